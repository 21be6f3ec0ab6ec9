// A typed array that either owns 64-byte-aligned memory or views a read-only mapping.
// Scans use aligned 64-byte loads, and a mapped index is copied into owned memory only when
// it is first modified.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <algorithm>
#include <type_traits>
#include <utility>

namespace lmrec {

template <class T>
class Buffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  static constexpr size_t kAlign = 64;

  Buffer() = default;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  Buffer(Buffer&& o) noexcept { swap(o); }
  Buffer& operator=(Buffer&& o) noexcept {
    Buffer tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  ~Buffer() { release(); }

  // Views memory owned elsewhere (a mapping kept alive by the caller).
  static Buffer view(const T* data, size_t count) {
    Buffer b;
    b.view_ = data;
    b.size_ = count;
    return b;
  }

  const T* data() const { return owned_ ? owned_ : view_; }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }
  bool is_view() const { return view_ != nullptr; }
  size_t owned_bytes() const { return owned_ ? capacity_ * sizeof(T) : 0; }
  size_t capacity() const { return owned_ ? capacity_ : 0; }

  // An owned copy of the elements with room for `count` (at least size()); lets a writer
  // grow or un-map an index's arrays while readers still scan the originals.
  Buffer copy_with_capacity(size_t count) const {
    Buffer b;
    b.view_ = data();
    b.size_ = size_;
    b.reserve(std::max(count, size_));
    return b;
  }

  T* mutable_data() {
    if (view_) reserve(size_);
    return owned_;
  }

  // Grows (new elements set to `fill`) or shrinks; keeps capacity growth geometric.
  void resize(size_t count, T fill = T()) {
    if (count > capacity_ || view_) reserve(count > capacity_ ? std::max(count, capacity_ * 3 / 2) : capacity_);
    for (size_t i = size_; i < count; ++i) owned_[i] = fill;
    size_ = count;
  }

  void reserve(size_t count) {
    if (count < size_) count = size_;
    if (count == 0) count = 1;
    T* fresh = static_cast<T*>(::operator new(count * sizeof(T), std::align_val_t(kAlign)));
    if (size_) std::memcpy(fresh, data(), size_ * sizeof(T));
    const size_t keep = size_;
    release();
    owned_ = fresh;
    size_ = keep;
    capacity_ = count;
  }

 private:
  void release() {
    if (owned_) ::operator delete(owned_, std::align_val_t(kAlign));
    owned_ = nullptr;
    view_ = nullptr;
    capacity_ = 0;
  }
  void swap(Buffer& o) noexcept {
    std::swap(owned_, o.owned_);
    std::swap(view_, o.view_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
  }

  T* owned_ = nullptr;
  const T* view_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace lmrec
