#include "analysis/mechanism.hpp"

#include "analysis/tag_lda.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace ctr {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool batch_has_bos(const Batch& batch) {
    for (int b = 0; b < batch.B; ++b)
        if (batch.kind[static_cast<size_t>(b) * batch.T] == kBos) return true;
    return false;
}

}  // namespace

PatternMetrics pattern_metrics(const real* pattern, int B, int H, int T, const Batch& batch, double eps) {
    if (batch.B != B || batch.T != T) throw std::invalid_argument("pattern_metrics: batch does not match the pattern");
    const bool bos = batch_has_bos(batch);
    PatternMetrics m;
    m.H = H;
    m.T = T;
    m.sink_alpha.assign(static_cast<size_t>(H) * T, 0.0);
    for (auto* v : {&m.sink_sep, &m.sink_rate_sep, &m.sink_rate_any, &m.n_sinks, &m.catch_score, &m.release,
                    &m.release_evenness})
        v->assign(H, 0.0);
    m.sink_bos.assign(H, bos ? 0.0 : kNaN);
    m.sink_rate_bos.assign(H, bos ? 0.0 : kNaN);
    std::vector<double> alpha(T);

    for (int h = 0; h < H; ++h) {
        double catch_sum = 0, release_sum = 0, even_sum = 0;
        size_t n_after = 0, n_even = 0;
        for (int b = 0; b < B; ++b) {
            const real* P = pattern + (static_cast<size_t>(b) * H + h) * T * T;
            const int s = batch.sep_pos[b];
            // sink scores alpha_k = 1/(T-k) sum_{i>=k} A[i,k]
            int sinks = 0;
            for (int k = 0; k < T; ++k) {
                double sum = 0;
                for (int i = k; i < T; ++i) sum += P[static_cast<size_t>(i) * T + k];
                alpha[k] = sum / (T - k);
                m.sink_alpha[static_cast<size_t>(h) * T + k] += alpha[k] / B;
                sinks += alpha[k] > eps;
            }
            m.n_sinks[h] += static_cast<double>(sinks) / B;
            m.sink_rate_any[h] += (sinks > 0 ? 1.0 : 0.0) / B;
            m.sink_sep[h] += alpha[s] / B;
            m.sink_rate_sep[h] += (alpha[s] > eps ? 1.0 : 0.0) / B;
            if (bos) {
                m.sink_bos[h] += alpha[0] / B;
                m.sink_rate_bos[h] += (alpha[0] > eps ? 1.0 : 0.0) / B;
            }
            // catch and release, over the queries after [SEP]
            for (int i = s + 1; i < T; ++i) {
                const real* row = P + static_cast<size_t>(i) * T;
                catch_sum += row[s];
                double mass = 0;
                for (int j = s + 1; j <= i; ++j) mass += row[j];
                release_sum += mass;
                ++n_after;
                const int n = i - s;
                if (n >= 2) {
                    double tv = 0;
                    for (int j = s + 1; j <= i; ++j) tv += std::abs((mass > 0 ? row[j] / mass : 0.0) - 1.0 / n);
                    tv *= 0.5;
                    even_sum += mass > 0 ? 1.0 - tv / (1.0 - 1.0 / n) : 0.0;
                    ++n_even;
                }
            }
        }
        m.catch_score[h] = n_after ? catch_sum / n_after : 0.0;
        m.release[h] = n_after ? release_sum / n_after : 0.0;
        m.release_evenness[h] = n_even ? even_sum / n_even : 1.0;
    }
    return m;
}

double tag_share(const real* z, const real* const* sinks, int n_sinks, int T, int Dh, int stride) {
    // Gram-Schmidt over the sink values; near-dependent ones are dropped.
    std::vector<std::vector<double>> basis;
    for (int s = 0; s < n_sinks; ++s) {
        std::vector<double> u(sinks[s], sinks[s] + Dh);
        double norm0 = 0;
        for (double x : u) norm0 += x * x;
        norm0 = std::sqrt(norm0);
        for (const auto& e : basis) {
            double dot = 0;
            for (int d = 0; d < Dh; ++d) dot += u[d] * e[d];
            for (int d = 0; d < Dh; ++d) u[d] -= dot * e[d];
        }
        double norm = 0;
        for (double x : u) norm += x * x;
        norm = std::sqrt(norm);
        if (norm0 == 0 || norm <= 1e-10 * norm0) continue;
        for (double& x : u) x /= norm;
        basis.push_back(std::move(u));
    }
    double total = 0, inside = 0;
    for (int i = 0; i < T; ++i) {
        const real* zi = z + static_cast<size_t>(i) * stride;
        for (int d = 0; d < Dh; ++d) total += static_cast<double>(zi[d]) * zi[d];
        for (const auto& e : basis) {
            double dot = 0;
            for (int d = 0; d < Dh; ++d) dot += zi[d] * e[d];
            inside += dot * dot;  // the basis is orthonormal: ||P_U z||^2 = sum of squared coordinates
        }
    }
    if (total <= 0 || basis.empty()) return 0.0;
    return std::sqrt(std::min(inside / total, 1.0));
}

double tag_separation(const real* resid, int B, int T, int D, const Batch& batch, const double* dir) {
    double dn = 0;
    for (int d = 0; d < D; ++d) dn += dir[d] * dir[d];
    dn = std::sqrt(dn);
    if (!(dn > 0)) return 0.0;
    double sum_a = 0, sum_b = 0, sq_all = 0;
    size_t n_a = 0, n_b = 0;
    std::vector<double> proj(static_cast<size_t>(B) * T, 0.0);
    for (int b = 0; b < B; ++b)
        for (int t = 0; t < T; ++t) {
            const size_t n = static_cast<size_t>(b) * T + t;
            if (batch.kind[n] != kNumber) continue;
            double p = 0;
            for (int d = 0; d < D; ++d) p += resid[n * D + d] * dir[d];
            p /= dn;
            proj[n] = p;
            sq_all += p * p;
            if (t > batch.sep_pos[b]) {
                sum_a += p;
                ++n_a;
            } else {
                sum_b += p;
                ++n_b;
            }
        }
    if (n_a == 0 || n_b == 0) return 0.0;
    const double mean_a = sum_a / n_a, mean_b = sum_b / n_b;
    double ss = 0;
    for (int b = 0; b < B; ++b)
        for (int t = 0; t < T; ++t) {
            const size_t n = static_cast<size_t>(b) * T + t;
            if (batch.kind[n] != kNumber) continue;
            const double e = proj[n] - (t > batch.sep_pos[b] ? mean_a : mean_b);
            ss += e * e;
        }
    const double dof = static_cast<double>(n_a + n_b) - 2.0;
    const double pooled = dof > 0 ? std::sqrt(ss / dof) : 0.0;
    const double rms = std::sqrt(sq_all / static_cast<double>(n_a + n_b));
    const double denom = std::max(pooled, 1e-6 * rms);
    if (!(denom > 0)) return 0.0;  // every projection is 0
    return (mean_a - mean_b) / denom;
}

MechanismMetrics compute_mechanism(const Transformer& model, const real* params, const Batch& probe,
                                   const AnalysisConfig& cfg) {
    const Activations& acts = model.activations();
    const ModelConfig& mc = model.config();
    if (acts.B != probe.B || acts.T != probe.T)
        throw std::invalid_argument("compute_mechanism: the model's last forward was not on this batch");
    const int L = mc.n_layers, H = mc.n_heads, D = mc.d_model, Dh = mc.d_head, B = probe.B, T = probe.T;
    const int HD = H * Dh;
    MechanismMetrics m;
    m.n_layers = L;
    m.n_heads = H;
    m.T = T;
    m.B = B;
    m.d_model = D;
    m.has_bos = batch_has_bos(probe);
    m.sink_eps = cfg.sink_eps;
    const size_t LH = static_cast<size_t>(L) * H;
    m.sink_alpha.assign(LH * T, 0.0);
    for (auto* v : {&m.sink_sep, &m.sink_bos, &m.sink_rate_sep, &m.sink_rate_bos, &m.sink_rate_any, &m.n_sinks,
                    &m.catch_score, &m.tag_norm, &m.tag_share, &m.tag_separation, &m.release, &m.release_evenness})
        v->assign(LH, 0.0);
    m.tag.assign(LH * D, 0.0);
    m.tag_lda.assign(L, 0.0);

    const ParamLayout& layout = model.layout();
    for (int l = 0; l < L; ++l) {
        const BlockActivations& a = acts.blocks[l];
        const PatternMetrics pm = pattern_metrics(a.pattern.data(), B, H, T, probe, cfg.sink_eps);
        m.tag_lda[l] = lda_separation(a.resid_post.data(), B, T, D, probe);
        for (int h = 0; h < H; ++h) {
            const size_t i = m.lh(l, h);
            std::copy_n(pm.sink_alpha.begin() + static_cast<size_t>(h) * T, T, m.sink_alpha.begin() + i * T);
            m.sink_sep[i] = pm.sink_sep[h];
            m.sink_bos[i] = pm.sink_bos[h];
            m.sink_rate_sep[i] = pm.sink_rate_sep[h];
            m.sink_rate_bos[i] = pm.sink_rate_bos[h];
            m.sink_rate_any[i] = pm.sink_rate_any[h];
            m.n_sinks[i] = pm.n_sinks[h];
            m.catch_score[i] = pm.catch_score[h];
            m.release[i] = pm.release[h];
            m.release_evenness[i] = pm.release_evenness[h];

            // tag: [SEP]'s value written into the residual, v_sep @ W_O[h], mean over sequences
            const real* W_O = params + layout.blocks[l].W_O + static_cast<size_t>(h) * Dh * D;
            double* tag = m.tag.data() + i * D;
            double share = 0;
            for (int b = 0; b < B; ++b) {
                const size_t row = static_cast<size_t>(b) * T;
                const real* v_sep = a.v.data() + (row + probe.sep_pos[b]) * HD + h * Dh;
                for (int d = 0; d < Dh; ++d)
                    for (int e = 0; e < D; ++e) tag[e] += v_sep[d] * W_O[static_cast<size_t>(d) * D + e] / B;
                const real* sinks[2] = {v_sep, nullptr};
                int n_sinks = 1;
                if (m.has_bos) sinks[n_sinks++] = a.v.data() + row * HD + h * Dh;
                share += tag_share(a.z.data() + row * HD + h * Dh, sinks, n_sinks, T, Dh, HD) / B;
            }
            m.tag_share[i] = share;
            double norm = 0;
            for (int e = 0; e < D; ++e) norm += tag[e] * tag[e];
            m.tag_norm[i] = std::sqrt(norm);
            m.tag_separation[i] = tag_separation(a.resid_post.data(), B, T, D, probe, tag);
        }
    }

    // averaging error at the supervised positions
    double sw = 0, swt = 0, se = 0;
    const size_t N = static_cast<size_t>(B) * T;
    for (size_t n = 0; n < N; ++n) {
        const double w = probe.weight[n];
        if (w <= 0) continue;
        const double e = acts.output[n] - probe.target[n];
        sw += w;
        swt += w * probe.target[n];
        se += w * e * e;
    }
    if (sw > 0) {
        const double mean_t = swt / sw;
        double sv = 0;
        for (size_t n = 0; n < N; ++n)
            if (probe.weight[n] > 0) sv += probe.weight[n] * (probe.target[n] - mean_t) * (probe.target[n] - mean_t);
        m.mse = se / sw;
        m.target_var = sv / sw;
        m.rel_error = m.target_var > 0 ? m.mse / m.target_var : 0.0;
    }

    const CatchReleasePair pair = find_catch_release_pair(m);
    m.catch_layer = pair.catch_layer;
    m.catch_head = pair.catch_head;
    m.release_layer = pair.release_layer;
    m.release_head = pair.release_head;
    m.pair_score = pair.score;
    return m;
}

CatchReleasePair find_catch_release_pair(const MechanismMetrics& m, const PairThresholds* thresholds) {
    CatchReleasePair p;
    for (int l1 = 0; l1 < m.n_layers; ++l1)
        for (int l2 = l1 + 1; l2 < m.n_layers; ++l2)
            for (int h1 = 0; h1 < m.n_heads; ++h1)
                for (int h2 = 0; h2 < m.n_heads; ++h2) {
                    const double c = m.get(m.catch_score, l1, h1), r = m.get(m.release, l2, h2);
                    if (thresholds && !(c >= thresholds->catch_threshold && r >= thresholds->release_threshold)) continue;
                    const double s = std::min(c, r);
                    if (!p.found || s > p.score) p = {true, l1, h1, l2, h2, s};
                }
    return p;
}

}  // namespace ctr
