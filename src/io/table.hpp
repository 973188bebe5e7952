#pragma once
// A column table written as CSV and as an HDF5 group of equal-length 1-D datasets (one
// per column): the sweep index. Written to a temporary name and renamed into place, so
// a reader sees the old table or the new one, never half of one.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace ctr {

struct TableColumn {
    std::string name;
    std::string doc;  // the dataset's "doc" attribute in HDF5
    // int64 (missing: -1), double (missing: NaN, an empty CSV field) or UTF-8 text.
    std::variant<std::vector<int64_t>, std::vector<double>, std::vector<std::string>> values;
};

struct Table {
    std::vector<TableColumn> columns;
    size_t rows() const;
};

// CSV with a header line; fields with commas or quotes are quoted ("" inside); doubles
// in their shortest round-trip form, NaN as an empty field.
void write_table_csv(const Table& t, const std::string& path);

// Writes the tables as groups (e.g. "runs", "points") of a new HDF5 file at path,
// replacing it. Text columns are variable-length UTF-8 strings.
void write_tables_h5(const std::vector<std::pair<std::string, const Table*>>& groups, const std::string& path);

}  // namespace ctr
