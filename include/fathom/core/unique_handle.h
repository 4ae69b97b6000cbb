#pragma once
// One move-only owner for C handles (HDF5 hid_t, MPI_Comm, MPI_Datatype,
// ncclComm_t, cudaStream_t): std::unique_ptr only owns pointers, and several
// of these are integers or have a "null" that is not 0/nullptr.
//
// Contract:
//  * UniqueHandle<T, Deleter, Null> owns at most one T. "Empty" means
//    get() == Null::value(); an empty handle is never passed to the deleter.
//  * Deleter: a copyable, movable callable `deleter(T)`; its return value (a
//    status code, say) is ignored when the handle closes itself, so code that
//    must see the status calls `get_deleter()(release())` instead. It must not
//    throw. It may carry state (e.g. which close function an hid_t needs); the
//    state moves with the handle.
//  * Null: a type with `static T value()`; the default is a value-initialised
//    T (0 / nullptr). Use NullValue<V> for a compile-time constant such as
//    H5I_INVALID_HID, or a small struct when the null is not a constant
//    expression (MPI_COMM_NULL is an address cast in Open MPI).
//  * Not thread-safe; like unique_ptr, one owner at a time.
#include <utility>

namespace fathom {

// Null policy: the value-initialised T (0 for integers, nullptr for pointers).
template <class T>
struct ValueInitNull {
  static constexpr T value() noexcept { return T{}; }
};

// Null policy for a constant that is not T{} (NullValue<H5I_INVALID_HID>).
template <auto V>
struct NullValue {
  static constexpr decltype(V) value() noexcept { return V; }
};

template <class T, class Deleter, class Null = ValueInitNull<T>>
class UniqueHandle {
 public:
  using value_type = T;
  using deleter_type = Deleter;

  static T null() noexcept { return Null::value(); }

  UniqueHandle() noexcept : value_(null()), deleter_() {}
  // Takes ownership of `value` (may be null: then nothing is owned).
  explicit UniqueHandle(T value, Deleter deleter = Deleter()) noexcept
      : value_(value), deleter_(std::move(deleter)) {}
  ~UniqueHandle() { reset(); }

  UniqueHandle(UniqueHandle&& other) noexcept
      : value_(other.release()), deleter_(std::move(other.deleter_)) {}
  UniqueHandle& operator=(UniqueHandle&& other) noexcept {
    if (this != &other) {
      reset(other.release());
      deleter_ = std::move(other.deleter_);
    }
    return *this;
  }
  UniqueHandle(const UniqueHandle&) = delete;
  UniqueHandle& operator=(const UniqueHandle&) = delete;

  T get() const noexcept { return value_; }
  explicit operator bool() const noexcept { return !(value_ == null()); }

  Deleter& get_deleter() noexcept { return deleter_; }
  const Deleter& get_deleter() const noexcept { return deleter_; }

  // Gives up ownership without closing; the handle becomes empty.
  T release() noexcept {
    T value = value_;
    value_ = null();
    return value;
  }

  // Closes the owned value (if any), then owns `value`. The new value is
  // stored before the old one is closed, as unique_ptr does, so a deleter
  // that reaches back into this handle sees a consistent state.
  void reset(T value = null()) noexcept {
    T old = value_;
    value_ = value;
    if (!(old == null())) deleter_(old);
  }

 private:
  T value_;
  Deleter deleter_;
};

}  // namespace fathom
