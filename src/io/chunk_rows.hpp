#pragma once
// Rows of a series stored one row per chunk, written as finished chunks
// (H5Dwrite_chunk): the conversion to the file's type, HDF5's shuffle filter and the
// deflate filter done here, the chunk handed to HDF5 as it will lie on disk. The file
// is the same as HDF5's own write path gives (same filters in the dataset, every reader
// decompresses it alike; the values bit for bit), but without HDF5's chunk cache, type
// conversion and filter pipeline, and with libdeflate, which deflates these chunks
// about 2.7 times faster than zlib (docs/performance.md). Used by io/series_file.hpp
// for every series whose layout it can write; the others go through H5Dwrite.
#include <hdf5.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

struct libdeflate_compressor;

namespace ctr {

class ChunkRows {
public:
    // How rows of mem_type are written to the series ds as whole chunks, or nullopt when
    // its layout is not one this writes (chunks of more than one row, other filters, a
    // type conversion other than none or float64 -> float32).
    static std::optional<ChunkRows> plan(hid_t ds, hid_t mem_type);

    // Grows ds by n rows and writes them (n * row_bytes() bytes of mem_type).
    void append(hid_t ds, const void* rows, hsize_t n);
    size_t row_bytes() const { return elements_ * mem_size_; }

private:
    enum class Convert { kNone, kDoubleToFloat };
    int rank_ = 0;
    std::vector<hsize_t> dims_;     // the dataset's shape (its first axis grows)
    size_t elements_ = 0;           // per row
    size_t mem_size_ = 0, file_size_ = 0;  // bytes per element
    Convert convert_ = Convert::kNone;
    bool shuffle_ = false;
    int deflate_level_ = -1;        // -1: not deflated
    std::shared_ptr<libdeflate_compressor> compressor_;
    std::vector<unsigned char> converted_, shuffled_, compressed_;  // reused per chunk
};

}  // namespace ctr
