"""Storage sharing decided with Tensor.data_ptr(), the address of a tensor's first element: a slice such as x[1:] starts further into the same storage, so it is wrongly reported as a copy. Compare the storages: a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()."""


def shares_storage(a, b):
    return a.data_ptr() == b.data_ptr()  # BUG: moves with the storage offset
