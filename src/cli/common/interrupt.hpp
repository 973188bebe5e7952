#pragma once
// Ctrl-C asks the run to stop at the next step boundary; a second Ctrl-C ends the
// process at once (the file then holds what was flushed).
namespace ctr {
void install_interrupt_handler();
bool interrupt_requested();
}  // namespace ctr
