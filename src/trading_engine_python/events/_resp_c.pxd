# Table of contents of the compiled RESP packer (_resp_c.pyx); the pure twin is _resp_py.py.
#
# Public (def) functions, same signatures and results as the twin:
#   xadd_head(stream: bytes, maxlen: int) -> bytes
#   pack_publish(items: list[tuple[bytes, bytes]], xadd: bytes | None = None) -> bytes
#   scan_replies(buf: bytes, pos: int, want: int) -> tuple[int, int, bytes | None]

# Bytes taken by the decimal form of a non-negative length.
cdef Py_ssize_t _ndigits(Py_ssize_t n) noexcept nogil
# Writes "$<n>\r\n" at p; returns the position after it.
cdef char* _put_len(char* p, Py_ssize_t n) noexcept nogil
# End of the reply starting at pos; -1 = not complete yet, -2 = not RESP.
cdef Py_ssize_t _skip(const char* b, Py_ssize_t n, Py_ssize_t pos, int depth) noexcept nogil
