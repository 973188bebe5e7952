#pragma once
// The names of the run file (docs/hdf5-layout.md), in one place: the writer
// (io/run_file_writer.cpp) and the reader (io/run_file_reader.cpp) take every group,
// dataset and attribute name from here. A change of meaning or layout bumps
// kFormatVersion; the reader refuses a file of another version.
#include <cstdint>
#include <iterator>
#include <vector>

#include "analysis/mechanism.hpp"

namespace ctr::schema {

inline constexpr int64_t kFormatVersion = 2;

// Root attributes.
inline constexpr const char* kCtrVersion = "ctr_version";
inline constexpr const char* kGitDescribe = "ctr_git_describe";
inline constexpr const char* kFormatVersionAttr = "format_version";
inline constexpr const char* kConfig = "config";
inline constexpr const char* kSeed = "seed";
inline constexpr const char* kCreated = "created";
inline constexpr const char* kStatus = "status";
// Provenance (root attributes).
inline constexpr const char* kCommandLine = "command_line";          // the invocation that created the file
inline constexpr const char* kLastCommandLine = "last_command_line";  // the latest invocation that wrote it
inline constexpr const char* kConfigFile = "config_file";
inline constexpr const char* kOverrides = "overrides";
inline constexpr const char* kHost = "host";
inline constexpr const char* kStarted = "started";
inline constexpr const char* kEnded = "ended";
inline constexpr const char* kWallTime = "wall_time";
inline constexpr const char* kSessions = "sessions";
inline constexpr const char* kCompiler = "compiler";
inline constexpr const char* kEigenVersion = "eigen_version";
inline constexpr const char* kHdf5Version = "hdf5_version";
inline constexpr const char* kBoostVersion = "boost_version";
// Values of kStatus.
inline constexpr const char* kRunning = "running";
inline constexpr const char* kComplete = "complete";
inline constexpr const char* kInterrupted = "interrupted";
inline constexpr const char* kDiverged = "diverged";

// /probe: the probe batch; /eval: the evaluation set (same datasets).
inline constexpr const char* kProbe = "probe";
inline constexpr const char* kEval = "eval";
inline constexpr const char* kTrain = "train";
inline constexpr const char* kBaselineMse = "baseline_mse";  // /eval attribute: eval_rel_error = eval_loss / this

// /metrics: one row per evaluation.
inline constexpr const char* kMetrics = "metrics";
inline constexpr const char* kMetricsStep = "metrics/step";
// The double-valued columns of /metrics, in MetricsRow order.
inline constexpr const char* kMetricColumns[] = {"train_loss", "grad_norm", "lr", "eval_loss", "eval_rel_error"};

// /snapshots: one row per snapshot.
inline constexpr const char* kSnapshots = "snapshots";
inline constexpr const char* kSnapshotsStep = "snapshots/step";
inline constexpr const char* kSnapshotOutput = "output";
inline constexpr const char* kPattern = "attn.hook_pattern";
inline constexpr const char* kHookV = "attn.hook_v";
inline constexpr const char* kHookZ = "attn.hook_z";
inline constexpr const char* kResidPre = "hook_resid_pre";
inline constexpr const char* kResidMid = "hook_resid_mid";  // only in blocks with an MLP
inline constexpr const char* kResidPost = "hook_resid_post";
inline constexpr const char* kSnapshotParams = "params";     // /snapshots/params/<tensor name>
inline constexpr const char* kSnapshotMetrics = "metrics";   // /snapshots/metrics/<series>
inline constexpr const char* kSnapshotHeadline = "headline"; // /snapshots/headline/<column>
// The columns of /snapshots/headline, in Headline order (catch_score, tag_separation,
// tag_lda, release, pair_score, rel_error).
inline constexpr const char* kHeadlineColumns[] = {"catch", "tag_separation", "tag_lda", "release", "pair_score",
                                                   "probe_rel_error"};

// The per-snapshot mechanism metrics under /snapshots/metrics (docs/metrics.md).
enum class MetricShape { kLayer, kLayerHead, kLayerHeadPos, kLayerHeadDModel };
struct MechanismSeries {
    const char* name;
    MetricShape shape;
    const std::vector<double> MechanismMetrics::*field;
};
inline const MechanismSeries kMechanismSeries[] = {
    {"sink_alpha", MetricShape::kLayerHeadPos, &MechanismMetrics::sink_alpha},
    {"sink_sep", MetricShape::kLayerHead, &MechanismMetrics::sink_sep},
    {"sink_bos", MetricShape::kLayerHead, &MechanismMetrics::sink_bos},
    {"sink_rate_sep", MetricShape::kLayerHead, &MechanismMetrics::sink_rate_sep},
    {"sink_rate_bos", MetricShape::kLayerHead, &MechanismMetrics::sink_rate_bos},
    {"sink_rate_any", MetricShape::kLayerHead, &MechanismMetrics::sink_rate_any},
    {"n_sinks", MetricShape::kLayerHead, &MechanismMetrics::n_sinks},
    {"catch", MetricShape::kLayerHead, &MechanismMetrics::catch_score},
    {"tag", MetricShape::kLayerHeadDModel, &MechanismMetrics::tag},
    {"tag_norm", MetricShape::kLayerHead, &MechanismMetrics::tag_norm},
    {"tag_share", MetricShape::kLayerHead, &MechanismMetrics::tag_share},
    {"tag_separation", MetricShape::kLayerHead, &MechanismMetrics::tag_separation},
    {"tag_lda", MetricShape::kLayer, &MechanismMetrics::tag_lda},
    {"release", MetricShape::kLayerHead, &MechanismMetrics::release},
    {"release_evenness", MetricShape::kLayerHead, &MechanismMetrics::release_evenness},
};

// /verdict: attributes only (verdict, emergence and causal tests of a finished run).
inline constexpr const char* kVerdict = "verdict";
namespace verdict {
inline constexpr const char* kSuccess = "success";
inline constexpr const char* kSolved = "solved";
inline constexpr const char* kMechanism = "mechanism";
inline constexpr const char* kSummary = "summary";
inline constexpr const char* kRelError = "rel_error";
inline constexpr const char* kCatchLayer = "catch_layer";
inline constexpr const char* kCatchHead = "catch_head";
inline constexpr const char* kReleaseLayer = "release_layer";
inline constexpr const char* kReleaseHead = "release_head";
inline constexpr const char* kCatch = "catch";
inline constexpr const char* kRelease = "release";
inline constexpr const char* kReleaseEvenness = "release_evenness";
inline constexpr const char* kTagSeparation = "tag_separation";
inline constexpr const char* kTagLda = "tag_lda";
// Emergence: for each milestone (analysis/emergence.hpp's kMilestoneNames), attributes
// "<milestone>" + one of these suffixes.
inline constexpr const char* kEmergenceWord = "_emergence";        // held, lost, never, not measured
inline constexpr const char* kFirstStep = "_first_step";           // -1: never or not measured
inline constexpr const char* kHeldFromStep = "_held_from_step";    // -1: not held at the end
inline constexpr const char* kLostStep = "_lost_step";             // -1: not lost
inline constexpr const char* kSwitches = "_switches";
inline constexpr const char* kHeldAtEnd = "_held_at_end";
inline constexpr const char* kStory = "story";                     // emergence_story()
inline constexpr const char* kCausalLayer = "causal_layer";
inline constexpr const char* kCausalHead = "causal_head";
inline constexpr const char* kCleanLoss = "clean_loss";
inline constexpr const char* kCatchAblatedLoss = "catch_ablated_loss";
inline constexpr const char* kTagAblatedLoss = "tag_ablated_loss";
}  // namespace verdict

// /checkpoint: the latest training state. A new one is written as an unlinked group,
// marked complete (kComplete, written last) and flushed; then the old one is moved to
// kCheckpointOld and the new one linked as kCheckpoint in one flush; then the old one is
// deleted (docs/hdf5-layout.md#crash-safety). kCheckpointStaging[.N] are the staged
// names of files written before that (they are never linked half-written any more).
inline constexpr const char* kCheckpoint = "checkpoint";
inline constexpr const char* kCheckpointOld = "checkpoint.old";
inline constexpr const char* kCheckpointStaging = "checkpoint.new";
namespace checkpoint {
inline constexpr const char* kComplete = "complete";  // int64 1, the last thing written
inline constexpr const char* kParams = "params";
inline constexpr const char* kTensors = "tensors";  // group: the params as named tensors
inline constexpr const char* kOptM = "opt_m";
inline constexpr const char* kOptV = "opt_v";      // AdamW only
inline constexpr const char* kOrder = "order";     // fixed training set only
inline constexpr const char* kStep = "step";
inline constexpr const char* kEpoch = "epoch";
inline constexpr const char* kBatchInEpoch = "batch_in_epoch";
inline constexpr const char* kOptT = "opt_t";
inline constexpr const char* kRowLossSum = "row_loss_sum";
inline constexpr const char* kRowGradNormSum = "row_grad_norm_sum";
inline constexpr const char* kRowSteps = "row_steps";
inline constexpr const char* kShuffleRng = "shuffle_rng";
inline constexpr const char* kFreshRng = "fresh_rng";
inline constexpr const char* kMetricsRows = "metrics_rows";
inline constexpr const char* kSnapshotRows = "snapshot_rows";
inline constexpr const char* kConfig = "config";   // the root config when it was taken (absent in older files)
}  // namespace checkpoint

}  // namespace ctr::schema
