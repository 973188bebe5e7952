#pragma once
// Ctrl-C (SIGINT), SIGTERM and SIGHUP (a closed terminal or ssh session) ask the run to
// stop at the next step boundary; a second one ends the process at once (the file then
// holds what was flushed).
namespace ctr {
void install_interrupt_handler();
bool interrupt_requested();
}  // namespace ctr
