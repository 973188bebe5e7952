#include "io/chunk_rows.hpp"

#include <libdeflate.h>

#include <bit>
#include <cfloat>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>

#include "io/h5.hpp"

namespace ctr {
namespace {

// HDF5's own float64 -> float32 conversion (H5T_CONV_Ff): out of float32's range is
// infinity, else the C conversion (round to nearest); NaN stays NaN.
inline float to_float(double x) {
    constexpr float inf = std::numeric_limits<float>::infinity();
    return x > double(FLT_MAX) ? inf : x < -double(FLT_MAX) ? -inf : static_cast<float>(x);
}

void to_float(float* out, const double* in, size_t n) {
    for (size_t i = 0; i < n; ++i) out[i] = to_float(in[i]);
}

// HDF5's shuffle filter (H5Z_FILTER_SHUFFLE) on n elements of Size bytes: byte j of
// every element, then byte j + 1 ... Each element is read once as a whole and its
// bytes go to the Size streams (loops the compiler vectorises, unlike a byte gather).
template <size_t Size, class Load>
void shuffle_elements(unsigned char* out, size_t n, Load load) {
    using Word = std::conditional_t<Size == 4, uint32_t, uint64_t>;
    for (size_t i = 0; i < n; ++i) {
        const Word w = load(i);
        for (size_t j = 0; j < Size; ++j) out[j * n + i] = static_cast<unsigned char>(w >> (8 * j));
    }
}

void shuffle(unsigned char* out, const unsigned char* in, size_t elements, size_t size) {
    if (size <= 1 || elements <= 1) {
        std::memcpy(out, in, elements * size);
        return;
    }
    if constexpr (std::endian::native == std::endian::little) {
        auto word = [in](size_t i, auto w) {
            std::memcpy(&w, in + i * sizeof w, sizeof w);
            return w;
        };
        if (size == 4) return shuffle_elements<4>(out, elements, [&](size_t i) { return word(i, uint32_t{}); });
        if (size == 8) return shuffle_elements<8>(out, elements, [&](size_t i) { return word(i, uint64_t{}); });
    }
    for (size_t j = 0; j < size; ++j)
        for (size_t i = 0; i < elements; ++i) out[j * elements + i] = in[i * size + j];
}

// to_float then shuffle in one pass (the snapshots' float32 series).
void to_float_shuffled(unsigned char* out, const double* in, size_t n) {
    if constexpr (std::endian::native == std::endian::little) {
        shuffle_elements<4>(out, n, [in](size_t i) { return std::bit_cast<uint32_t>(to_float(in[i])); });
    } else {
        std::vector<float> f(n);
        to_float(f.data(), in, n);
        shuffle(out, reinterpret_cast<const unsigned char*>(f.data()), n, sizeof(float));
    }
}

// One compressor per level for the whole process: allocating one (hundreds of KB)
// for every series of every run was a visible part of a sweep run's fixed cost. The
// run file is written by one thread.
std::shared_ptr<libdeflate_compressor> compressor(int level) {
    static std::shared_ptr<libdeflate_compressor> by_level[13];
    std::shared_ptr<libdeflate_compressor>& c = by_level[level];
    if (!c) {
        libdeflate_compressor* made = libdeflate_alloc_compressor(level);
        if (made) c.reset(made, libdeflate_free_compressor);
    }
    return c;
}

std::string name_of(hid_t ds) {
    char name[512] = "?";
    H5Iget_name(ds, name, sizeof name);
    return name;
}

}  // namespace

std::optional<ChunkRows> ChunkRows::plan(hid_t ds, hid_t mem_type) {
    ChunkRows w;
    h5::Handle space(h5::check(H5Dget_space(ds), "dataspace of " + name_of(ds)));
    w.rank_ = H5Sget_simple_extent_ndims(space.get());
    if (w.rank_ < 1) return std::nullopt;
    w.dims_.resize(w.rank_);
    H5Sget_simple_extent_dims(space.get(), w.dims_.data(), nullptr);
    h5::Handle dcpl(h5::check(H5Dget_create_plist(ds), "creation list of " + name_of(ds)));
    if (H5Pget_layout(dcpl.get()) != H5D_CHUNKED) return std::nullopt;
    std::vector<hsize_t> chunk(w.rank_);
    if (H5Pget_chunk(dcpl.get(), w.rank_, chunk.data()) != w.rank_ || chunk[0] != 1) return std::nullopt;
    w.elements_ = 1;
    for (int i = 1; i < w.rank_; ++i) {
        if (chunk[i] != w.dims_[i]) return std::nullopt;
        w.elements_ *= w.dims_[i];
    }
    // Exactly the filters the run file uses: none, deflate, or shuffle then deflate.
    const int nfilters = H5Pget_nfilters(dcpl.get());
    for (int f = 0; f < nfilters; ++f) {
        unsigned flags = 0, cd[8] = {};
        size_t ncd = 8;
        const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), f, &flags, &ncd, cd, 0, nullptr, nullptr);
        if (id == H5Z_FILTER_SHUFFLE && f == 0 && nfilters == 2) {
            w.shuffle_ = true;
        } else if (id == H5Z_FILTER_DEFLATE && f == nfilters - 1 && ncd >= 1 && cd[0] <= 9) {
            w.deflate_level_ = static_cast<int>(cd[0]);
        } else {
            return std::nullopt;
        }
    }
    h5::Handle file_type(h5::check(H5Dget_type(ds), "type of " + name_of(ds)));
    w.mem_size_ = H5Tget_size(mem_type);
    w.file_size_ = H5Tget_size(file_type.get());
    if (H5Tequal(mem_type, file_type.get()) > 0)
        w.convert_ = Convert::kNone;
    else if (H5Tequal(mem_type, H5T_NATIVE_DOUBLE) > 0 && H5Tequal(file_type.get(), H5T_IEEE_F32LE) > 0 &&
             H5Tequal(H5T_NATIVE_FLOAT, H5T_IEEE_F32LE) > 0)
        w.convert_ = Convert::kDoubleToFloat;
    else
        return std::nullopt;
    if (w.deflate_level_ >= 0) {
        // libdeflate's levels run to 12; HDF5's (zlib's) to 9, and they mean about the same.
        w.compressor_ = compressor(w.deflate_level_);
        if (!w.compressor_) throw h5::IoError("out of memory for the compressor of " + name_of(ds));
    }
    return w;
}

void ChunkRows::append(hid_t ds, const void* rows, hsize_t n) {
    const std::string fail = "appending rows to " + name_of(ds);
    h5::Handle space(H5Dget_space(ds));
    if (!space.valid()) throw h5::failure(fail);
    H5Sget_simple_extent_dims(space.get(), dims_.data(), nullptr);
    std::vector<hsize_t> offset(rank_, 0);
    offset[0] = dims_[0];
    dims_[0] += n;
    if (H5Dset_extent(ds, dims_.data()) < 0) throw h5::failure("extending " + name_of(ds));
    const size_t file_bytes = elements_ * file_size_;
    for (hsize_t r = 0; r < n; ++r, ++offset[0]) {
        const auto* row = static_cast<const unsigned char*>(rows) + r * row_bytes();
        const unsigned char* data = row;
        if (convert_ == Convert::kDoubleToFloat && shuffle_) {
            shuffled_.resize(file_bytes);
            to_float_shuffled(shuffled_.data(), reinterpret_cast<const double*>(row), elements_);
            data = shuffled_.data();
        } else if (convert_ == Convert::kDoubleToFloat) {
            converted_.resize(file_bytes);
            to_float(reinterpret_cast<float*>(converted_.data()), reinterpret_cast<const double*>(row), elements_);
            data = converted_.data();
        }
        if (shuffle_ && convert_ == Convert::kNone) {
            shuffled_.resize(file_bytes);
            shuffle(shuffled_.data(), data, elements_, file_size_);
            data = shuffled_.data();
        }
        size_t size = file_bytes;
        if (compressor_) {
            compressed_.resize(libdeflate_zlib_compress_bound(compressor_.get(), file_bytes));
            size = libdeflate_zlib_compress(compressor_.get(), data, file_bytes, compressed_.data(), compressed_.size());
            if (size == 0) throw h5::IoError(fail + ": deflate failed");
            data = compressed_.data();
        }
        if (H5Dwrite_chunk(ds, H5P_DEFAULT, 0, offset.data(), size, data) < 0) throw h5::failure(fail);
    }
}

}  // namespace ctr
