#pragma once
// Causal tests of the mechanism on the probe batch (docs/metrics.md, "Causal tests"):
// the loss when the catch head stops catching, and when the tag is removed from the
// residual stream, each compared with the clean loss.
#include <vector>

#include "analysis/mechanism.hpp"
#include "config/config.hpp"
#include "model/transformer.hpp"
#include "task/batch.hpp"

namespace ctr {

struct CausalResult {
    int layer = -1, head = -1;       // the catch head intervened on; -1: nothing to test
    double clean_loss = 0;           // probe loss, no intervention
    double catch_ablated_loss = 0;   // head's A[i, sep] = 0 for queries i > sep, rows renormalised
    double tag_ablated_loss = 0;     // unit tag direction projected out of resid_post of `layer`, every token
    double catch_increase = 0;       // catch_ablated_loss - clean_loss
    double tag_increase = 0;         // tag_ablated_loss - clean_loss
};

// Intervention hooks for Transformer::forward. The batch must outlive the hooks.
// Catch ablation: in block `layer`, head `head`, every query i after [SEP] gets
// A[i, sep] = 0 and the rest of its row rescaled to sum 1 (uniform over the other
// visible keys if they all had 0); z is recomputed from the new pattern.
ForwardHooks catch_ablation_hooks(const Batch& batch, int layer, int head, int n_heads, int d_head);
// Tag projection: r <- r - (r.u) u for every token's resid_post of block `layer`, u = dir / ||dir||.
ForwardHooks tag_projection_hooks(int layer, const std::vector<double>& dir, int d_model);

// Runs the clean forward, then the two interventions, then the clean forward again (so
// model's activations end clean). tag_dir: d_model values (m.tag of the head).
CausalResult causal_tests(Transformer& model, const real* params, const Batch& probe, int layer, int head,
                          const std::vector<double>& tag_dir);
// The same on m's catch head (m.catch_layer, m.catch_head) and its tag, with a model
// built for cfg; layer -1 in the result when m has no pair.
CausalResult causal_tests(const Config& cfg, const real* params, const Batch& probe, const MechanismMetrics& m);

}  // namespace ctr
