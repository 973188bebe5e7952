#include "cli/common/flags.hpp"

namespace po = boost::program_options;

namespace ctr {

po::variables_map parse_command_line(const std::vector<std::string>& args, const po::options_description& flags,
                                     const char* positional_name, po::value_semantic* positional_value,
                                     int max_positional, const std::string& usage) {
    // The positional arguments are a hidden option, so --help lists only the flags.
    po::options_description hidden;
    hidden.add_options()(positional_name, positional_value);
    po::options_description all;
    all.add(flags).add(hidden);
    po::positional_options_description positional;
    positional.add(positional_name, max_positional);
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw UsageError(std::string(e.what()) + "\n" + usage);
    }
    return vm;
}

}  // namespace ctr
