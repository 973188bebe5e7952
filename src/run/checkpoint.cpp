#include "run/checkpoint.hpp"

#include <sstream>

#include "io/h5.hpp"

namespace ctr {
namespace {

std::string rng_text(const Rng& rng) {
    std::ostringstream os;
    os << rng;
    return os.str();
}

void rng_from_text(Rng& rng, const std::string& text, const std::string& source) {
    std::istringstream is(text);
    is >> rng;
    if (!is) throw h5::IoError(source + " is damaged: its checkpoint's random-number state is unreadable", h5::Cause::kDamaged);
}

template <class T>
void copy_checked(std::vector<T>& to, const std::vector<T>& from, const std::string& what, const std::string& source) {
    if (from.size() != to.size())
        throw h5::IoError(source + " is damaged: its checkpoint's " + what + " has " + std::to_string(from.size()) +
                              " values, the config's model " + std::to_string(to.size()),
                          h5::Cause::kDamaged);
    to = from;
}

}  // namespace

Checkpoint checkpoint_of(const TrainState& s) {
    Checkpoint c;
    c.params = s.params;
    c.opt_m = s.opt.m;
    c.opt_v = s.opt.v;
    c.order = s.order;
    c.step = s.step;
    c.epoch = s.epoch;
    c.batch_in_epoch = s.batch_in_epoch;
    c.opt_t = s.opt.t;
    c.row_loss_sum = s.row_loss_sum;
    c.row_grad_norm_sum = s.row_grad_norm_sum;
    c.row_steps = s.row_steps;
    c.shuffle_rng = rng_text(s.shuffle_rng);
    c.fresh_rng = rng_text(s.fresh_rng);
    return c;
}

void restore(TrainState& s, const Checkpoint& c, const std::string& source) {
    copy_checked(s.params, c.params, "params", source);
    copy_checked(s.opt.m, c.opt_m, "opt_m", source);
    copy_checked(s.opt.v, c.opt_v, "opt_v", source);
    copy_checked(s.order, c.order, "order", source);
    s.step = c.step;
    s.epoch = c.epoch;
    s.batch_in_epoch = c.batch_in_epoch;
    s.opt.t = c.opt_t;
    s.row_loss_sum = c.row_loss_sum;
    s.row_grad_norm_sum = c.row_grad_norm_sum;
    s.row_steps = c.row_steps;
    rng_from_text(s.shuffle_rng, c.shuffle_rng, source);
    rng_from_text(s.fresh_rng, c.fresh_rng, source);
}

}  // namespace ctr
