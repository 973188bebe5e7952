#include "io/table.hpp"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "io/h5.hpp"

namespace ctr {

namespace fs = std::filesystem;

namespace {

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
}

std::string number_text(double v) {
    if (std::isnan(v)) return "";
    char buf[64];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    return std::string(buf, r.ptr);
}

// A temporary name beside path, unique to this process.
std::string temp_name(const std::string& path) { return path + ".tmp." + std::to_string(::getpid()); }

void replace(const std::string& tmp, const std::string& path) {
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        std::error_code ignored;  // the rename's error is the one to report
        fs::remove(tmp, ignored);
        throw h5::IoError("cannot write " + path + ": " + ec.message());
    }
}

}  // namespace

size_t Table::rows() const {
    if (columns.empty()) return 0;
    return std::visit([](const auto& v) { return v.size(); }, columns.front().values);
}

void write_table_csv(const Table& t, const std::string& path) {
    const std::string tmp = temp_name(path);
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw h5::IoError("cannot write " + tmp + " (is the directory writable?)");
        for (size_t c = 0; c < t.columns.size(); ++c) out << (c ? "," : "") << csv_field(t.columns[c].name);
        out << "\n";
        for (size_t r = 0; r < t.rows(); ++r) {
            for (size_t c = 0; c < t.columns.size(); ++c) {
                if (c) out << ",";
                const auto& v = t.columns[c].values;
                if (const auto* i = std::get_if<std::vector<int64_t>>(&v)) out << (*i)[r];
                else if (const auto* d = std::get_if<std::vector<double>>(&v)) out << number_text((*d)[r]);
                else out << csv_field(std::get<std::vector<std::string>>(v)[r]);
            }
            out << "\n";
        }
        out.flush();
        if (!out) {
            out.close();
            fs::remove(tmp);
            throw h5::IoError("cannot write " + path + " (disk full?)");
        }
    }
    replace(tmp, path);
}

void write_tables_h5(const std::vector<std::pair<std::string, const Table*>>& groups, const std::string& path) {
    const std::string tmp = temp_name(path);
    {
        h5::Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT));
        if (!file.valid()) throw h5::IoError("cannot create " + tmp + " (is the directory writable?)");
        h5::Handle str_type(h5::check(H5Tcopy(H5T_C_S1), "string type"));
        h5::check(H5Tset_size(str_type.get(), H5T_VARIABLE), "string type");
        h5::check(H5Tset_cset(str_type.get(), H5T_CSET_UTF8), "string type");
        for (const auto& [name, table] : groups) {
            h5::Handle g = h5::create_group(file.get(), name);
            const hsize_t n = table->rows();
            for (const TableColumn& col : table->columns) {
                h5::Handle space(h5::check(H5Screate_simple(1, &n, nullptr), "dataspace " + col.name));
                hid_t type = -1;
                const void* data = nullptr;
                std::vector<const char*> ptrs;
                if (const auto* i = std::get_if<std::vector<int64_t>>(&col.values)) {
                    type = H5T_NATIVE_INT64;
                    data = i->data();
                } else if (const auto* d = std::get_if<std::vector<double>>(&col.values)) {
                    type = H5T_NATIVE_DOUBLE;
                    data = d->data();
                } else {
                    for (const std::string& s : std::get<std::vector<std::string>>(col.values)) ptrs.push_back(s.c_str());
                    type = str_type.get();
                    data = ptrs.data();
                }
                const hid_t file_type = type == H5T_NATIVE_INT64 ? H5T_STD_I64LE
                                        : type == H5T_NATIVE_DOUBLE ? H5T_IEEE_F64LE
                                                                    : str_type.get();
                h5::Handle ds(h5::check(H5Dcreate2(g.get(), col.name.c_str(), file_type, space.get(), H5P_DEFAULT,
                                                   H5P_DEFAULT, H5P_DEFAULT),
                                        "dataset " + name + "/" + col.name));
                if (n > 0) h5::check(H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "writing " + col.name);
                if (!col.doc.empty()) h5::set_attr(ds.get(), "doc", col.doc);
            }
        }
        h5::check(H5Fflush(file.get(), H5F_SCOPE_GLOBAL), "flushing " + tmp);
    }
    replace(tmp, path);
}

}  // namespace ctr
