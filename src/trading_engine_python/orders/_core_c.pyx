# cython: language_level=3
"""Compiled order core: the twin of ``_core_py.py``, which is the specification.

Same public API, same flags, same counters, same answers (tests/orders/test_core_properties.py drives
random operation sequences through both and compares after every step). What differs is storage:

- Records are fixed-layout C structs (``Rec`` in _core_c.pxd) in pages of 1024 (pages never move,
  so growth copies nothing and a ``Rec*`` stays valid), with a free list of slots and a generation
  counter per slot. All C memory comes from ``PyMem_Raw*``, so tracemalloc sees it.
- Lookups by client order id and by exchange order id are open-addressing hash tables of slot
  numbers (linear probing, 4-byte buckets holding the slot and an 8-bit hash tag, deletion by
  tombstone, load <= 0.8).
- Live orders sit in intrusive doubly linked lists (all / sub-account / symbol / (sub, symbol) /
  parent), so a query costs what it returns and insertion order is kept, as the pure dicts do.
- Strings (sub-account, symbol, origin, parent, time in force) are interned per core with
  reference counts, and released with the last record that uses them: memory stays flat.
- Terminal orders wait in a FIFO ring of slots; eviction is exactly the pure ``_expire``.
- ``OrderState`` is a view (core, slot, generation) that reads the record. Live views are
  registered per slot (borrowed pointers, removed by the view's dealloc); eviction freezes each into
  its own copy first, so a held view never shows another order's data.
- ``feed(bytes)`` decodes with ``_decode_c.decode_frame_hinted`` into a C ``Update`` and runs the C
  transition: no Python object is made unless a view is asked for (``last_order()``). The decoder
  hands over o.c as soon as it has read it, so the order's index entry and record are on their way
  into the cache while the rest of the frame is scanned (``_cid_hint``).

- Re-entry is refused (see ``_core_py``'s docstring): a nested call from a clock, an argument or a
  finalizer would change records, lists and the ring under the running method.

Not thread-safe: one event loop drives one core.
"""

cimport cython
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytearray cimport PyByteArray_AS_STRING, PyByteArray_GET_SIZE
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_RawFree, PyMem_RawMalloc, PyMem_RawRealloc
from cpython.ref cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t, uintptr_t
from libc.string cimport memcmp, memcpy, memset

from trading_engine_python.orders._decode_c cimport (
    P_AMENDED,
    P_AP,
    P_ALGO,
    P_EVENT_TIME,
    P_LP,
    P_ORDER_ID,
    P_P,
    P_Q,
    P_Z,
    R_MALFORMED,
    R_ORDER,
    R_OTHER_EVENT,
    ST_CANCELED,
    ST_EXPIRED,
    ST_EXPIRED_IN_MATCH,
    ST_FILLED,
    ST_FINISHED,
    ST_NEW,
    ST_NONE,
    ST_OTHER,
    ST_PARTIALLY_FILLED,
    ST_REJECTED,
    ST_TRIGGERING,
    Update,
    decode_frame,
    decode_frame_hinted,
)

import secrets
import time

from . import _states

IMPLEMENTATION = "cython"

__all__ = ["IMPLEMENTATION", "OrderCore", "OrderState"]  # what orders._core re-exports

PUBLIC_FIELDS = _states.PUBLIC_FIELDS

COUNTERS = _states.COUNTERS
if (COUNTERS.index("frames"), COUNTERS.index("evicted"), len(COUNTERS)) != (C_FRAMES, C_EVICTED, N_COUNTERS):
    raise ImportError("_core_c: counter indexes differ from _states.COUNTERS; rebuild")
if sizeof(Rec) != 64 or sizeof(Ext) != 112 or PAGE_SIZE != 1024:  # Page's arrays and its alignment
    raise ImportError("_core_c: a Rec is not one 64-byte cache line; see _core_c.pxd")

cdef tuple _STATE_NAMES = _states.STATE_NAMES
cdef tuple _SIDES = _states.SIDES
cdef tuple _ORDER_TYPES = _states.ORDER_TYPES
cdef tuple _EXPIRE_REASONS = _states.EXPIRE_REASONS
cdef object _MONOTONIC = time.monotonic
cdef object _MISSING = object()


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL
    str PyUnicode_FromObject(object obj)
    object PyNumber_Index(object obj)
    long long PyLong_AsLongLongAndOverflow(object obj, int* overflow) except? -1


cdef extern from *:
    """
    #include <time.h>
    #include <string.h>

    /* 64-bit multiply-xorshift hash of a short byte string (client order ids are <= 36 bytes),
       keyed by a per-core random seed. Only consistency within one process matters. */
    static inline uint64_t te_hash_bytes(const char *p, Py_ssize_t n, uint64_t seed) {
        uint64_t h = seed ^ ((uint64_t)n * 0x9E3779B97F4A7C15ULL);
        uint64_t w;
        while (n >= 8) {
            memcpy(&w, p, 8);
            h = (h ^ w) * 0xBF58476D1CE4E5B9ULL;
            h ^= h >> 29;
            p += 8;
            n -= 8;
        }
        w = 0;
        if (n > 0) memcpy(&w, p, (size_t)n);
        h = (h ^ w) * 0x94D049BB133111EBULL;
        h ^= h >> 32;
        h *= 0xD6E8FEB86659FD93ULL;
        h ^= h >> 32;
        return h;
    }

    static inline void te_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

    /* splitmix64 finalizer, for exchange order ids. */
    static inline uint64_t te_hash_u64(uint64_t x, uint64_t seed) {
        x ^= seed;
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9ULL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBULL;
        x ^= x >> 31;
        return x;
    }

    /* time.monotonic() exactly as CPython computes it on Linux (clock_gettime(CLOCK_MONOTONIC)
       in ns, then _PyTime_AsSecondsDouble), without making a float object. */
    static inline double te_monotonic(void) {
        struct timespec ts;
        int64_t ns;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ns = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
        if (ns % 1000000000LL == 0) return (double)(ns / 1000000000LL);
        return (double)ns / 1e9;
    }

    /* The pure core's weighted average, floor((avg*filled + lp*inc + z//2) / z), in exact
       128-bit integers. Callers guarantee 0 <= filled, 0 < inc, z = filled + inc < 2**63 and
       |avg|, |lp| <= 2**62, so the numerator stays below 2**126. Returns 0 in *ok when the
       compiler has no 128-bit integers (the caller then does it with Python ints). */
    static inline int64_t te_wavg(int64_t avg, int64_t filled, int64_t lp, int64_t inc, int64_t z,
                                  int *ok) {
    #ifdef __SIZEOF_INT128__
        __int128 num = (__int128)avg * filled + (__int128)lp * inc + (z / 2);
        __int128 q = num / z;
        if (num % z != 0 && num < 0) q -= 1;  /* C truncates; Python's // floors */
        *ok = 1;
        return (int64_t)q;
    #else
        *ok = 0;
        return 0;
    #endif
    }
    """
    uint64_t te_hash_bytes(const char* p, Py_ssize_t n, uint64_t seed) noexcept nogil
    void te_prefetch(const void* p) noexcept nogil
    uint64_t te_hash_u64(uint64_t x, uint64_t seed) noexcept nogil
    double te_monotonic() noexcept nogil
    int64_t te_wavg(int64_t avg, int64_t filled, int64_t lp, int64_t inc, int64_t z,
                    int* ok) noexcept nogil


cdef enum:
    _HT_MIN = 64
    _STRS_MIN = 16


# The C constants must be the shared Python ones: a mismatch is a build error, not a silent bug.
if (S_PLACING, S_ACTIVE, S_CANCELLING, S_TRIGGERING, S_TRIGGERED, S_FILLED, S_CANCELLED, S_EXPIRED,
        S_REJECTED, S_FAILED, S_FINISHED, S_FIRST_TERMINAL) != (
        _states.PLACING, _states.ACTIVE, _states.CANCELLING, _states.TRIGGERING, _states.TRIGGERED,
        _states.FILLED, _states.CANCELLED, _states.EXPIRED, _states.REJECTED, _states.FAILED,
        _states.FINISHED, _states.FIRST_TERMINAL):
    raise ImportError("_core_c: order state codes differ from _states.py; rebuild")
if (F_ACTIVATED, F_FILL, F_PARTIAL, F_FILLED, F_CLOSED, F_LATE_FILL, F_UNKNOWN_STATUS, F_STALE,
        F_UNKNOWN_ID, F_MALFORMED, F_OTHER_EVENT, F_HOOKED, F_ORPHAN, F_TRIGGERED, F_AMENDED,
        F_CALLED, F_DIRTY) != (
        _states.F_ACTIVATED, _states.F_FILL, _states.F_PARTIAL, _states.F_FILLED, _states.F_CLOSED,
        _states.F_LATE_FILL, _states.F_UNKNOWN_STATUS, _states.F_STALE, _states.F_UNKNOWN_ID,
        _states.F_MALFORMED, _states.F_OTHER_EVENT, _states.F_HOOKED, _states.F_ORPHAN,
        _states.F_TRIGGERED, _states.F_AMENDED, _states.F_CALLED, _states.F_DIRTY):
    raise ImportError("_core_c: transition flags differ from _states.py; rebuild")

# The transition table: _states.TRANSITIONS, read (as _states.CELLS) into a C array at import, so
# that both cores run the one table. Cell = new state (low 4 bits, _KEEP = unchanged) | actions << 4.
cdef enum:
    _N_STATES = 12
    _N_EVENTS = 19
    _KEEP = 15
    _A_ACK = 1
    _A_SEEN = 2
    _A_CLOSED = 4
    _A_FILLED = 8
    _A_ORPHAN = 16
    _A_REFUSE = 32
    _A_TRIGGER = 64
    _A_AMEND = 128
    _EV_UNKNOWN = 0
    _EV_EXPIRED_IN_MATCH = 6
    _EV_COMPLETED = 8
    _EV_PLACE_SENT = 9
    _EV_CANCEL_SENT = 10
    _EV_CANCEL_REFUSED = 11
    _EV_CANCEL_REFUSED_ACKED = 12
    _EV_REJECTED_LOCAL = 13
    _EV_FAILED_LOCAL = 14
    _EV_TRIGGERING = 15
    _EV_TRIGGERED = 16
    _EV_FINISHED = 17
    _EV_AMENDED = 18
    _FIRST_ALGO_TYPE = 2
    _N_TYPES = 7

if ((_N_STATES, _N_EVENTS, _KEEP, _A_ACK, _A_SEEN, _A_CLOSED, _A_FILLED, _A_ORPHAN, _A_REFUSE, _A_TRIGGER,
     _A_AMEND, _EV_UNKNOWN, _EV_EXPIRED_IN_MATCH, _EV_COMPLETED, _EV_PLACE_SENT, _EV_CANCEL_SENT,
     _EV_CANCEL_REFUSED, _EV_CANCEL_REFUSED_ACKED, _EV_REJECTED_LOCAL, _EV_FAILED_LOCAL, _EV_TRIGGERING,
     _EV_TRIGGERED, _EV_FINISHED, _EV_AMENDED, _FIRST_ALGO_TYPE, _N_TYPES)
        != (len(_states.STATE_NAMES), _states.N_EVENTS, _states.KEEP, _states.A_ACK, _states.A_SEEN,
            _states.A_CLOSED, _states.A_FILLED, _states.A_ORPHAN, _states.A_REFUSE, _states.A_TRIGGER,
            _states.A_AMEND, _states.EV_UNKNOWN, _states.EV_EXPIRED_IN_MATCH, _states.EV_COMPLETED,
            _states.EV_PLACE_SENT, _states.EV_CANCEL_SENT, _states.EV_CANCEL_REFUSED,
            _states.EV_CANCEL_REFUSED_ACKED, _states.EV_REJECTED_LOCAL, _states.EV_FAILED_LOCAL,
            _states.EV_TRIGGERING, _states.EV_TRIGGERED, _states.EV_FINISHED, _states.EV_AMENDED,
            _states.FIRST_ALGO_TYPE, len(_states.ORDER_TYPES))
        or (ST_NEW, ST_PARTIALLY_FILLED, ST_FILLED, ST_CANCELED, ST_EXPIRED, ST_EXPIRED_IN_MATCH,
            ST_REJECTED) != (_states.EV_NEW, _states.EV_PARTIALLY_FILLED, _states.EV_FILLED,
                             _states.EV_CANCELED, _states.EV_EXPIRED, _states.EV_EXPIRED_IN_MATCH,
                             _states.EV_REJECTED)):
    raise ImportError("_core_c: transition table codes differ from _states.py; rebuild")

cdef int _CELLS[_N_STATES][_N_EVENTS]


def _load_cells():
    cdef int state, ev
    for state in range(_N_STATES):
        for ev in range(_N_EVENTS):
            _CELLS[state][ev] = _states.CELLS[state][ev]


_load_cells()


# ── small helpers ──

cdef inline object _fp_float(int64_t v):
    # (double)v is exact below 2**53 and one IEEE division is correctly rounded, so this is the
    # double nearest v / 1e8, as Python's int / int; above, let Python do it.
    if -9007199254740992 < v < 9007199254740992:
        return <double>v / 1e8
    return (<object>v) / 100000000


cdef inline uint64_t _cid_hash(uint64_t seed, const char* p, Py_ssize_t n) noexcept nogil:
    return te_hash_bytes(p, n, seed)


cdef inline uint64_t _oid_hash(uint64_t seed, int64_t oid) noexcept nogil:
    return te_hash_u64(<uint64_t>oid, seed)


cdef struct _Hint:
    # decode_frame_hinted's context for feed(): the client id index, and o.c's hash once read.
    const HTab* t
    Page** pages
    uint64_t h
    bint have_h


cdef void _cid_hint(void* ctx, const char* cid, Py_ssize_t n, int step) noexcept nogil:
    # The index entry is asked for as soon as the decoder has o.c, and the record it names (its Rec
    # line and the amounts at the start of its Ext) once the entry has had the time of some
    # 230 bytes of scanning to arrive: with the records out of the caches (10k live orders and
    # more) these misses then overlap the scan instead of following it (o.L rather than o.i, the
    # earlier key, measured 0.02x of orjson.loads better at 10k). A wrong guess (another key with
    # the same tag, or no entry) costs a prefetch, nothing else.
    cdef _Hint* x = <_Hint*>ctx
    cdef Bucket e
    cdef int32_t slot
    cdef const char* r
    if step == 0:
        x.h = te_hash_bytes(cid, n, x.t.seed)
        x.have_h = True
        te_prefetch(&x.t.b[<uint32_t>(x.h >> 32) & x.t.mask])
    elif x.have_h:
        e = x.t.b[<uint32_t>(x.h >> 32) & x.t.mask]
        if bucket_live(e) and (e & 0xFF) == (x.h & 0xFF):
            slot = bucket_slot(e)
            te_prefetch(rec_at(x.pages, slot))
            r = <const char*>ext_at(x.pages, slot)
            te_prefetch(r)  # the amounts and the time: bytes 0-47, in one line or two
            te_prefetch(r + 47)


cdef inline bint _may_close(const Update* u, const Ext* x) noexcept nogil:
    # _core_py._may_close: whether a feed event may take its order to a terminal state.
    if u.status != ST_NEW and u.status != ST_PARTIALLY_FILLED:
        return True
    if not (u.present & P_Z):
        return False
    return u.z >= x.qty or ((u.present & P_Q) != 0 and u.z >= u.q)


cdef inline uint32_t _vt_home(int32_t slot, uint32_t mask) noexcept nogil:
    return <uint32_t>((<uint64_t><uint32_t>slot * 0x9E3779B97F4A7C15ULL) >> 32) & mask


# ── the input contract (the same rules, messages and order of checks as _core_py) ──

# Binance's leverage range (POST /fapi/v1/leverage: 1 to 125; a symbol's brackets may allow less).
LEVERAGE_MIN = 1
LEVERAGE_MAX = 125

cdef str _BUSY = ("OrderCore is busy: re-entrant call from a callback/clock/__hash__/finalizer while "
                  "one of its methods runs (call it again once that method has returned)")
cdef str _DETACHED = ("OrderState has no order: this one was made by OrderState.__new__, not by "
                      "OrderCore")
cdef int64_t _INT64_MAX = 9223372036854775807
cdef object _BAD = object()


cdef inline str _exact_str(object s):
    # A str subclass as its plain value (a copy made in C: the subclass's own methods never run).
    return s if type(s) is str else PyUnicode_FromObject(s)


cdef inline str _text(str name, object value):
    if type(value) is str:
        return value
    if isinstance(value, str):
        return PyUnicode_FromObject(value)
    raise TypeError(f"{name} must be a str, not {type(value).__name__}")


cdef inline object _opt_text(str name, object value):
    if value is None or type(value) is str:
        return value
    if isinstance(value, str):
        return PyUnicode_FromObject(value)
    raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")


cdef object _index(str name, object value):
    """``value`` as a plain int (anything with ``__index__`` but bool), else TypeError."""
    if type(value) is int:
        return value
    if type(value) is not bool:
        try:
            return PyNumber_Index(value)
        except TypeError:
            pass
    raise TypeError(f"{name} must be an int, not {type(value).__name__}")


cdef int64_t _int_arg(str name, object value, int64_t lo, int64_t hi) except? -1:
    # Compared in C: a Python comparison with lo and hi made ints of them first, five times an add.
    cdef int overflow = 0
    cdef long long v
    if type(value) is not int:
        value = _index(name, value)
    v = PyLong_AsLongLongAndOverflow(value, &overflow)
    if overflow == 0 and lo <= v <= hi:
        return v
    raise ValueError(f"{name} must be in [{lo}, {hi}], not {value!r}")


cdef object _key(object value):
    """What a lookup by string uses: a plain str, or None when ``value`` names nothing (it is
    hashed first, so that an unhashable value raises TypeError as a dict lookup does)."""
    if isinstance(value, str):
        return _exact_str(value)
    hash(value)
    return None


cdef int64_t _oid_key(object value) except -2:
    """An exchange order id to look up, or -1: anything but an int in [0, 2**63) names no order."""
    cdef int overflow = 0
    cdef long long v
    if type(value) is not int:
        try:
            value = PyNumber_Index(value)
        except TypeError:
            return -1
    v = PyLong_AsLongLongAndOverflow(value, &overflow)  # (compared in C, not as Python ints)
    return v if overflow == 0 and v >= 0 else -1


cdef int64_t _field_int(object value) except -3:
    """A decoded integer field: -1 absent (None), -2 outside the decoder's contract (a plain int
    in [0, 2**63))."""
    if value is None:
        return -1
    if type(value) is int and 0 <= value <= _INT64_MAX:
        return value
    return -2


cdef int _opt_int(object fields, str key, int64_t* dst, unsigned int bit, unsigned int* present) except -1:
    # One optional decoded integer of feed_decoded's mapping: set and marked present when given,
    # left alone when absent; 1 when it is outside the decoder's contract (the frame is malformed).
    cdef int64_t v = _field_int(fields.get(key))
    if v == -2:
        return 1
    if v >= 0:
        dst[0] = v
        present[0] |= bit
    return 0


cdef int _previous(object previous) except -2:
    # undo_cancel's ``previous`` as a state code, compared with == (-1: not placing or active).
    if previous == S_ACTIVE:
        return S_ACTIVE
    if previous == S_PLACING:
        return S_PLACING
    return -1


# ── hash tables of slot numbers ──

cdef int ht_init(HTab* t, uint32_t cap) except -1:
    t.b = <Bucket*>PyMem_RawMalloc(cap * sizeof(Bucket))
    if t.b == NULL:
        raise MemoryError()
    memset(t.b, 0, cap * sizeof(Bucket))
    t.mask = cap - 1
    t.count = 0
    t.tombs = 0
    t.limit = <uint32_t>(cap * 4 // 5)
    return 0


cdef void ht_free(HTab* t) noexcept:
    PyMem_RawFree(t.b)
    t.b = NULL
    t.mask = 0
    t.count = 0
    t.tombs = 0
    t.limit = 0


cdef inline uint64_t _key_hash(const HTab* t, Page** pages, int32_t slot) noexcept nogil:
    cdef const Rec* r = rec_at(pages, slot)
    if t.by_oid:
        return te_hash_u64(<uint64_t>r.oid, t.seed)
    return te_hash_bytes(r.cid, r.cid_len, t.seed)


cdef inline uint32_t _home(const HTab* t, uint64_t h) noexcept nogil:
    return <uint32_t>(h >> 32) & t.mask


cdef void ht_put(HTab* t, int32_t slot, uint64_t h) noexcept nogil:
    # The key is known absent (so the first tombstone on its path may take it) and there is room
    # (count + tombs < limit).
    cdef uint32_t i = _home(t, h)
    while bucket_live(t.b[i]):
        i = (i + 1) & t.mask
    if t.b[i]:
        t.tombs -= 1
    t.b[i] = (<uint32_t>(slot + 1) << 8) | <uint32_t>(h & 0xFF)
    t.count += 1


cdef int ht_reserve(HTab* t, Page** pages, Py_ssize_t need) except -1:
    """Room for ``need`` live entries under the load limit, tombstones included: rebuild in place
    (dropping the tombstones) while the live entries fill at most half the limit, so that at least
    as many deletions as there are live entries pay for the next rebuild; else double. The keys
    are hashed again from their records."""
    cdef HTab old
    cdef HTab nt
    cdef uint32_t cap
    cdef uint32_t i
    cdef int32_t s
    if need + t.tombs < t.limit:
        return 0
    cap = t.mask + 1
    if need > t.limit // 2:
        while need >= <Py_ssize_t>(cap * 4 // 5):
            if cap >= (1u << 30):
                raise MemoryError("order core hash table full")
            cap *= 2
    ht_init(&nt, cap)
    nt.by_oid = t.by_oid
    nt.seed = t.seed
    old = t[0]
    for i in range(old.mask + 1):
        if bucket_live(old.b[i]):
            s = bucket_slot(old.b[i])
            ht_put(&nt, s, _key_hash(&old, pages, s))
    PyMem_RawFree(old.b)
    t[0] = nt
    return 0


cdef void ht_delete_at(HTab* t, uint32_t i) noexcept nogil:
    # A tombstone, unless the run ends right after: then the bucket and the tombstones just
    # before it become empty (no probe path crosses them any more), which keeps runs short
    # without reading any record.
    t.count -= 1
    if t.b[(i + 1) & t.mask]:
        t.b[i] = HT_TOMB
        t.tombs += 1
        return
    t.b[i] = 0
    i = (i - 1) & t.mask
    while t.b[i] == HT_TOMB:
        t.b[i] = 0
        t.tombs -= 1
        i = (i - 1) & t.mask


cdef int64_t cid_bucket(const HTab* t, Page** pages, const char* k, Py_ssize_t n,
                        uint64_t h) noexcept nogil:
    cdef uint32_t i = _home(t, h)
    cdef uint32_t tag = <uint32_t>(h & 0xFF)
    cdef const Rec* r
    cdef Bucket e
    while True:
        e = t.b[i]
        if not e:
            return -1
        if (e & 0xFF) == tag and bucket_live(e):
            r = rec_at(pages, bucket_slot(e))
            if r.cid_len == n and memcmp(r.cid, k, n) == 0:
                return i
        i = (i + 1) & t.mask


cdef int64_t oid_bucket(const HTab* t, Page** pages, int64_t oid, uint64_t h) noexcept nogil:
    cdef uint32_t i = _home(t, h)
    cdef uint32_t tag = <uint32_t>(h & 0xFF)
    cdef Bucket e
    while True:
        e = t.b[i]
        if not e:
            return -1
        if (e & 0xFF) == tag and bucket_live(e) and rec_at(pages, bucket_slot(e)).oid == oid:
            return i
        i = (i + 1) & t.mask


# ── views ──

@cython.final
@cython.no_gc_clear
@cython.freelist(64)
cdef class OrderState:
    """One tracked order: a live view of its record in the core.

    The object returned by ``OrderCore.add`` shows every later transition. When the core lets go
    of the order (retention over), the view is frozen into its own copy first and keeps its final
    values; ``copy.copy``/``pickle`` give frozen copies. Made by the core only: one made by
    ``OrderState.__new__`` has no order, and every attribute, repr, copy or pickle of it raises
    AttributeError (as the pure twin's unset slots do).
    """

    def __init__(self, *args, **kwargs):
        raise TypeError("OrderState objects are made by OrderCore")

    def __dealloc__(self):
        cdef OrderCore core = self._core
        cdef Rec* r
        if self._snap != NULL:
            PyMem_RawFree(self._snap)
            self._snap = NULL
        elif core is not None and core._pages != NULL:
            # The core holds only a borrowed pointer to us: unregister before the memory goes.
            r = rec_at(core._pages, self._slot)
            if r.gen == self._gen and r.flags & RF_VIEW:
                r.flags &= ~RF_VIEW
                core._vt_remove(self._slot)

    cdef const Rec* _rec(self) except NULL:
        cdef const Rec* r
        if self._snap != NULL:
            return &self._snap.rec
        if self._core is None:
            raise AttributeError(_DETACHED)
        r = rec_at(self._core._pages, self._slot)
        if r.gen != self._gen:  # cannot happen: eviction freezes every registered view
            raise RuntimeError("order view outlived its record")
        return r

    cdef const Ext* _ext(self) except NULL:
        if self._snap != NULL:
            return &self._snap.ext
        self._rec()  # its checks
        return ext_at(self._core._pages, self._slot)

    cdef object _str(self, int which):
        # which: 0 sub-account, 1 symbol, 2 origin, 3 parent, 4 time in force, 5 error
        cdef const Rec* r = self._rec()
        cdef const Ext* x
        cdef OrderCore core
        if self._snap != NULL:
            return self._strs[which]
        core = self._core
        x = ext_at(core._pages, self._slot)
        if which == 0:
            return core._str_obj[core._pairs[x.pair].sub]
        if which == 1:
            return core._str_obj[core._pairs[x.pair].sym]
        if which == 2:
            return core._str_obj[x.origin]
        if which == 3:
            return core._str_obj[x.parent] if x.parent >= 0 else None
        if which == 4:
            return core._str_obj[x.tif] if x.tif >= 0 else None
        return core._errors.get(self._slot) if r.flags & RF_ERROR else None

    @property
    def client_order_id(self):
        cdef const Rec* r = self._rec()
        return r.cid[:r.cid_len].decode("utf-8")

    @property
    def exchange_order_id(self):
        cdef const Rec* r = self._rec()
        return r.oid if r.flags & RF_OID else None

    @property
    def sub_account_id(self):
        return self._str(0)

    @property
    def symbol(self):
        return self._str(1)

    @property
    def origin(self):
        return self._str(2)

    @property
    def parent_id(self):
        return self._str(3)

    @property
    def time_in_force(self):
        return self._str(4)

    @property
    def error(self):
        return self._str(5)

    @property
    def leverage(self):
        return self._rec().leverage

    @property
    def reduce_only(self):
        return (self._rec().flags & RF_REDUCE_ONLY) != 0

    @property
    def terminal_at(self):
        cdef const Rec* r = self._rec()
        return self._ext().at if r.state >= S_FIRST_TERMINAL else 0.0

    @property
    def side(self):
        return _SIDES[self._rec().kind & 1]

    @property
    def order_type(self):
        return _ORDER_TYPES[self._rec().kind >> 1]

    @property
    def state(self):
        return _STATE_NAMES[self._rec().state]

    @property
    def is_algo(self):
        return (self._rec().kind >> 1) >= _FIRST_ALGO_TYPE

    @property
    def expire_reason(self):
        return _EXPIRE_REASONS[1 if self._rec().flags & RF_STP else 0]

    @property
    def state_code(self):
        return self._rec().state

    @property
    def quantity(self):
        return _fp_float(self._ext().qty)

    @property
    def price(self):
        cdef const Ext* x = self._ext()
        return _fp_float(x.price) if x.price else None

    @property
    def filled_qty(self):
        return _fp_float(self._rec().filled)

    @property
    def remaining_qty(self):
        cdef const Rec* r = self._rec()
        cdef const Ext* x = self._ext()
        if -4611686018427387904 < x.qty < 4611686018427387904 and 0 <= r.filled < 4611686018427387904:
            return _fp_float(x.qty - r.filled)
        return (<object>x.qty - r.filled) / 100000000  # the difference might not fit int64

    @property
    def avg_price(self):
        return _fp_float(self._ext().avg)

    @property
    def last_fill_qty(self):
        return _fp_float(self._ext().last_qty)

    @property
    def last_fill_price(self):
        return _fp_float(self._ext().last_price)

    @property
    def is_live(self):
        return rec_is_live(self._rec())

    @property
    def is_terminal(self):
        return self._rec().state >= S_FIRST_TERMINAL

    @property
    def quantity_fp(self):
        return self._ext().qty

    @property
    def price_fp(self):
        return self._ext().price

    @property
    def filled_fp(self):
        return self._rec().filled

    def snapshot(self):
        """A detached copy with today's values (later transitions do not show in it)."""
        return _restore_state(self._state_tuple())

    def to_dict(self):
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}

    def __repr__(self):
        return (
            f"<OrderState {self.client_order_id} {self.sub_account_id} {self.symbol} {self.side} "
            f"{self.order_type} {self.quantity}@{self.price} {self.state} filled={self.filled_qty}>"
        )

    # A copy is a snapshot (as a copy of the pure twin's object is): it never follows the order.
    def __copy__(self):
        return _restore_state(self._state_tuple())

    def __deepcopy__(self, memo):
        return _restore_state(self._state_tuple())

    def __reduce__(self):
        return (_restore_state, (self._state_tuple(),))

    def _state_tuple(self):
        cdef const Rec* r = self._rec()
        cdef const Ext* x = self._ext()
        return (
            self.client_order_id, r.oid if r.flags & RF_OID else None, x.qty, x.price, r.filled,
            x.avg, x.last_qty, x.last_price, x.at if r.state >= S_FIRST_TERMINAL else 0.0, r.leverage,
            r.kind, r.state,
            r.flags & (RF_ACKED | RF_REDUCE_ONLY | RF_OID | RF_ERROR | RF_HOOKED | RF_STP),
            (self._str(0), self._str(1), self._str(2), self._str(3), self._str(4), self._str(5)),
        )


def _restore_state(tuple t):
    """A frozen OrderState from ``OrderState._state_tuple()`` (copy and pickle)."""
    cdef OrderState v = OrderState.__new__(OrderState)
    cdef Snap* snap
    cdef Rec* r
    cdef Ext* x
    cdef bytes cid = t[0].encode("utf-8")
    if len(cid) > CID_CAP:
        raise ValueError("client order id longer than 36 bytes")
    snap = <Snap*>PyMem_RawMalloc(sizeof(Snap))
    if snap == NULL:
        raise MemoryError()
    memset(snap, 0, sizeof(Snap))
    v._snap = snap
    v._slot = -1
    r = &snap.rec
    x = &snap.ext
    r.oid = t[1] if t[1] is not None else 0
    x.qty = t[2]
    x.price = t[3]
    r.filled = t[4]
    x.avg = t[5]
    x.last_qty = t[6]
    x.last_price = t[7]
    x.at = t[8]
    if not (LEVERAGE_MIN <= t[9] <= LEVERAGE_MAX):
        raise ValueError("bad OrderState state")
    r.leverage = t[9]
    r.kind = t[10]
    r.state = t[11]
    r.flags = t[12] & ~RF_WATCHED
    r.hook = -1
    if not (r.kind < 2 * _N_TYPES and r.state < len(_STATE_NAMES)):
        raise ValueError("bad OrderState state")
    r.cid_len = len(cid)
    memcpy(r.cid, <const char*>cid, r.cid_len)
    x.pair = x.origin = x.parent = x.tif = -1
    v._strs = tuple(t[13])
    if len(v._strs) != 6:
        raise ValueError("bad OrderState state")
    return v


cdef inline void _list_insert_after(Page** pages, int32_t* head, int32_t* tail, int lst, int32_t after,
                                    int32_t slot) noexcept nogil:
    # after: -1 inserts at the head.
    cdef Ext* x = ext_at(pages, slot)
    cdef int32_t nxt = ext_at(pages, after).link[2 * lst + 1] if after >= 0 else head[0]
    x.link[2 * lst] = after
    x.link[2 * lst + 1] = nxt
    if after >= 0:
        ext_at(pages, after).link[2 * lst + 1] = slot
    else:
        head[0] = slot
    if nxt >= 0:
        ext_at(pages, nxt).link[2 * lst] = slot
    else:
        tail[0] = slot


# ── the core ──

@cython.final
@cython.no_gc_clear
cdef class OrderCore:
    """Records, indexes, the feed decoder and the transition function (compiled)."""

    implementation = IMPLEMENTATION

    def __cinit__(self, *args, **kwargs):
        self._free = -1
        self._all_head = -1
        self._all_tail = -1
        self._watch_head = -1
        self._watch_tail = -1
        self._strs_free = -1
        self._pairs_free = -1
        self._last_slot = -1
        self._str_idx = {}
        self._str_obj = []
        self._pair_idx = {}
        self._errors = {}
        self._dirty_gone = []
        ht_init(&self._by_cid, _HT_MIN)
        ht_init(&self._by_oid, _HT_MIN)

    def __init__(self, terminal_ttl=600.0, terminal_max=100_000, clock=time.monotonic):
        if self._ready:
            raise RuntimeError("OrderCore is already initialised")
        if terminal_ttl < 0 or terminal_max < 0:
            raise ValueError("terminal_ttl and terminal_max must be >= 0")
        self._ttl = float(terminal_ttl)
        terminal_max = int(terminal_max)
        # Never more terminal orders than slots, so a larger cap is the same as no cap.
        self._max = terminal_max if terminal_max < 2 ** 62 else 2 ** 62
        self._clock = clock
        self._mono = clock is _MONOTONIC
        self._seed = secrets.randbits(64)
        self._by_cid.seed = self._by_oid.seed = self._seed
        self._by_oid.by_oid = 1
        self._ready = True

    def __dealloc__(self):
        cdef int32_t i
        if self._pages != NULL:
            for i in range(self._npages):
                PyMem_RawFree(self._pages[i].raw)
            PyMem_RawFree(self._pages)
            self._pages = NULL
        ht_free(&self._by_cid)
        ht_free(&self._by_oid)
        PyMem_RawFree(self._vt)
        PyMem_RawFree(self._ring)
        PyMem_RawFree(self._dirty)
        PyMem_RawFree(self._strs)
        PyMem_RawFree(self._pairs)

    # ── the re-entry guard ──
    # Caller code can run inside any method: the clock, __hash__/__eq__/__index__/__bool__/__str__
    # of an argument, a mapping given to feed_decoded, a finalizer the cycle collector runs while
    # the core allocates. None of it may call the core again before the method returns: a nested
    # call would change records, lists and the retention ring under the outer one. So each entry
    # takes the guard first (try/finally) and a nested call raises RuntimeError. Within an entry,
    # the clock is read and the arguments are converted before anything changes, so a refusal or
    # an exception there leaves the core as it was.

    cdef int _enter(self) except -1:
        if self._busy:
            raise RuntimeError(_BUSY)
        if not self._ready:
            raise RuntimeError("OrderCore.__init__ was not called")
        self._busy = True
        return 0

    cdef int _begin(self, bint closing) except -1:
        """Read the clock once, first, when the call may need it: to evict (the ring holds orders)
        or to stamp an order it closes (``closing``). time.monotonic is read in C, where it can
        neither fail nor run anything: _set_state() reads it itself, when an order closes."""
        if self._ring_len or (closing and not self._mono):
            self._op_now = self._now()
            self._now_read = True
        else:
            self._now_read = False
        return 0

    # ── registration and lookups ──

    def add(self, client_order_id, sub_account_id, symbol, side, order_type, quantity, price,
            origin, parent_id, leverage, reduce_only, time_in_force):
        """Register an order in state placing (the manager sends its request right after).

        The input contract is ``_core_py.OrderCore.add``'s: strings are ``str`` (a subclass is stored
        as its plain value), integers are ints in their range, else TypeError / ValueError.
        """
        cdef const char* cid
        cdef Py_ssize_t n
        cdef int64_t q, p
        cdef uint8_t lev
        cdef int c_side, c_type
        cdef bint ro
        cdef int32_t sub_i = -1, sym_i = -1, pair_i = -1, origin_i = -1, parent_i = -1, tif_i = -1
        cdef int32_t slot
        cdef Rec* r
        cdef Ext* x
        self._enter()
        try:
            self._begin(False)
            cid_s = _text("client_order_id", client_order_id)
            sub_s = _text("sub_account_id", sub_account_id)
            sym_s = _text("symbol", symbol)
            origin_s = _text("origin", origin)
            parent_s = _opt_text("parent_id", parent_id)
            tif_s = _opt_text("time_in_force", time_in_force)
            cid = PyUnicode_AsUTF8AndSize(cid_s, &n)  # (the str's own UTF-8: no copy for ASCII)
            if n > CID_CAP:
                raise ValueError("client order id longer than 36 bytes")
            c_side = <int>_int_arg("side", side, 0, 1)
            c_type = <int>_int_arg("order_type", order_type, 0, _N_TYPES - 1)
            q = _int_arg("quantity", quantity, 1, _INT64_MAX)
            p = _int_arg("price", price, 0, _INT64_MAX)
            lev = <uint8_t>_int_arg("leverage", leverage, LEVERAGE_MIN, LEVERAGE_MAX)
            ro = bool(reduce_only)
            self._expire()
            if self._find_cid(cid, n) >= 0:
                raise ValueError(f"client order id {cid_s!r} is already tracked")
            # Interning only looks up plain str keys (no caller code); room comes after it, and
            # nothing below can fail half way.
            try:
                sub_i = self._intern(sub_s)
                sym_i = self._intern(sym_s)
                pair_i = self._pair(sub_i, sym_i)  # takes over the two references when it is new
                sub_i = sym_i = -1
                origin_i = self._intern(origin_s)
                if parent_s is not None:
                    parent_i = self._intern(parent_s)
                if tif_s is not None:
                    tif_i = self._intern(tif_s)
                self._reserve()
            except BaseException:
                for idx in (sub_i, sym_i, origin_i, parent_i, tif_i):
                    if idx >= 0:
                        self._release(idx)
                if pair_i >= 0:
                    self._release_pair(pair_i)
                raise
            slot = self._alloc_slot()
            r = rec_at(self._pages, slot)
            x = ext_at(self._pages, slot)
            r.oid = 0
            x.qty = q
            x.price = p
            r.filled = 0
            x.avg = 0
            x.last_qty = 0
            x.last_price = 0
            x.at = 0.0
            r.hook = -1
            x.pair = pair_i
            x.origin = origin_i
            x.parent = parent_i
            x.tif = tif_i
            r.leverage = lev
            r.kind = c_side | (c_type << 1)
            r.state = _CELLS[S_IDLE][_EV_PLACE_SENT] & 15  # "place sent": out of idle
            r.flags = RF_REDUCE_ONLY if ro else 0
            r.dirty = 0
            r.cid_len = n
            memcpy(r.cid, cid, n)
            ht_put(&self._by_cid, slot, _cid_hash(self._seed, r.cid, n))
            self._n_tracked += 1
            self._link_live(slot)
            self._cnt[C_ADDED] += 1
            return self._view(slot)
        finally:
            self._busy = False

    def get(self, client_order_id):
        cdef int32_t slot
        self._enter()
        try:
            self._begin(False)
            key = client_order_id if type(client_order_id) is str else _key(client_order_id)
            self._expire()
            slot = self._slot_of(key)
            return self._view(slot) if slot >= 0 else None
        finally:
            self._busy = False

    def get_by_exchange_id(self, exchange_order_id):
        """The order with that Binance orderId; None for anything but an int in [0, 2**63)."""
        cdef int32_t slot
        cdef int64_t oid
        self._enter()
        try:
            self._begin(False)
            oid = _oid_key(exchange_order_id)
            self._expire()
            slot = self._find_oid(oid) if oid >= 0 else -1
            return self._view(slot) if slot >= 0 else None
        finally:
            self._busy = False

    def live(self, sub_account_id=None, symbol=None):
        cdef int32_t i, j
        self._enter()
        try:
            self._begin(False)
            sub = _key(sub_account_id) if sub_account_id is not None else None
            sym = _key(symbol) if symbol is not None else None
            self._expire()
            if sub_account_id is None and symbol is None:
                return self._walk(self._all_head, L_ALL)
            if (sub_account_id is not None and sub is None) or (symbol is not None and sym is None):
                return []
            if symbol is None:
                i = self._str_idx.get(sub, -1)
                return self._walk(self._strs[i].head[ROLE_SUB], L_SUB) if i >= 0 else []
            if sub_account_id is None:
                i = self._str_idx.get(sym, -1)
                return self._walk(self._strs[i].head[ROLE_SYM], L_SYM) if i >= 0 else []
            i = self._str_idx.get(sub, -1)
            j = self._str_idx.get(sym, -1)
            if i < 0 or j < 0:
                return []
            pi = self._pair_idx.get((<int64_t>i << 32) | j)
            return self._walk(self._pairs[<int32_t>pi].head, L_PAIR) if pi is not None else []
        finally:
            self._busy = False

    def by_parent(self, parent_id):
        cdef int32_t i
        self._enter()
        try:
            self._begin(False)
            key = _key(parent_id)
            self._expire()
            i = self._str_idx.get(key, -1) if key is not None else -1
            return self._walk(self._strs[i].head[ROLE_PARENT], L_PARENT) if i >= 0 else []
        finally:
            self._busy = False

    def last_order(self):
        """The order the last feed/transition call touched (None after malformed input)."""
        self._enter()
        try:
            if self._last_slot >= 0:
                return self._view(self._last_slot)
            return self._last_frozen
        finally:
            self._busy = False

    def last_event_time(self):
        """The envelope's ``E`` (ms) of the last frame that reached an order; 0 when it had none."""
        return self._last_event_time

    def counters(self):
        cdef int i
        c = {}
        for i in range(N_COUNTERS):
            c[COUNTERS[i]] = self._cnt[i]
        c["tracked"] = self._n_tracked
        c["live"] = self._n_live
        return c

    def __len__(self):
        return self._n_tracked

    # ── local transitions (driven by the manager, never by a REST reply's content) ──

    def set_exchange_id(self, client_order_id, exchange_order_id):
        """Record Binance's orderId from whichever reports it first (REST reply or feed ``i``).
        An int outside [0, 2**63) is no order id and is ignored; a non-integer is a TypeError."""
        cdef int32_t slot
        cdef Rec* r
        self._enter()
        try:
            oid = _index("exchange_order_id", exchange_order_id)
            slot = self._slot_of(_key(client_order_id))
            if slot < 0 or not (0 <= oid <= _INT64_MAX):
                return None
            r = rec_at(self._pages, slot)
            if not (r.flags & RF_OID):
                self._reserve_feed()
                self._set_oid(slot, r, oid)
            return None
        finally:
            self._busy = False

    def set_hooked(self, client_order_id, hooked):
        """Mark an order whose feed events the shell must see (callbacks, a replace waiting):
        its results then carry F_HOOKED, so unmarked orders never leave the core."""
        cdef int32_t slot
        cdef Rec* r
        cdef bint on
        self._enter()
        try:
            key = _key(client_order_id)
            on = bool(hooked)
            slot = self._slot_of(key)
            if slot >= 0:
                r = rec_at(self._pages, slot)
                if on:
                    r.flags |= RF_HOOKED
                else:
                    r.flags &= ~RF_HOOKED
            return None
        finally:
            self._busy = False

    def set_hook(self, client_order_id, hook):
        """Store the shell's handle for an order (an index into its own table of callbacks) and
        mark it (F_HOOKED) when ``hook`` >= 0; -1 clears both. ``last_hook()`` then answers it with
        each result, so the shell reaches an order's callbacks without building its id."""
        cdef int32_t slot
        cdef Rec* r
        cdef int32_t h
        self._enter()
        try:
            h = <int32_t>_int_arg("hook", hook, -1, 2147483647)
            slot = self._slot_of(_key(client_order_id))
            if slot >= 0:
                r = rec_at(self._pages, slot)
                r.hook = h
                if h >= 0:
                    r.flags |= RF_HOOKED
                else:
                    r.flags &= ~RF_HOOKED
            return None
        finally:
            self._busy = False

    def get_hook(self, client_order_id):
        """The order's handle (``set_hook``); -1 for none or an unknown order."""
        cdef int32_t slot
        self._enter()
        try:
            slot = self._slot_of(_key(client_order_id))
            return rec_at(self._pages, slot).hook if slot >= 0 else -1
        finally:
            self._busy = False

    def last_hook(self):
        """The handle of ``last_order()`` (-1: none, or no last order). Reads only."""
        cdef OrderState v
        if self._last_slot >= 0:
            return rec_at(self._pages, self._last_slot).hook
        if self._last_frozen is not None:
            v = self._last_frozen
            return v._snap.rec.hook
        return -1

    def hooks_in_use(self):
        """The set of handles tracked orders hold (the shell frees the others)."""
        cdef int32_t slot
        cdef Rec* r
        cdef set out = set()
        self._enter()
        try:
            for slot in range(self._hwm):
                r = rec_at(self._pages, slot)
                if r.state != S_IDLE and r.hook >= 0:
                    out.add(r.hook)
            return out
        finally:
            self._busy = False

    # ── the in-flight watch: accepted requests whose feed event has not come ──

    def watch(self, client_order_id, timeout):
        """The exchange accepted a request for this placing/cancelling order: it is due back from
        ``expired()`` ``timeout`` seconds from now unless it leaves placing/cancelling first (then
        it is unlinked in O(1)). Watching it again moves its deadline. False when not placing or
        cancelling (or unknown). Kept in deadline order: with one timeout, appending keeps it."""
        cdef int32_t slot, s
        cdef Rec* r
        cdef double deadline
        cdef double now
        self._enter()
        try:
            deadline = timeout
            now = self._now()
            deadline += now
            self._op_now = now
            self._expire()
            slot = self._slot_of(_key(client_order_id))
            if slot < 0:
                return False
            r = rec_at(self._pages, slot)
            if not (r.state == S_PLACING or r.state == S_CANCELLING):
                return False
            if r.flags & RF_WATCHED:
                self._unwatch(slot, r)
            ext_at(self._pages, slot).at = deadline
            s = self._watch_tail
            while s >= 0 and ext_at(self._pages, s).at > deadline:  # only for a shorter timeout
                s = ext_at(self._pages, s).link[2 * L_WATCH]
            if s == self._watch_tail:
                list_append(self._pages, &self._watch_head, &self._watch_tail, L_WATCH, slot)
            else:
                _list_insert_after(self._pages, &self._watch_head, &self._watch_tail, L_WATCH, s, slot)
            r.flags |= RF_WATCHED
            self._n_watched += 1
            return True
        finally:
            self._busy = False

    def expired(self):
        """The watched orders whose deadline has passed, oldest first, each taken off the watch
        (only those are looked at)."""
        cdef int32_t slot
        cdef Rec* r
        cdef double now
        cdef list out = []
        self._enter()
        try:
            now = self._now()
            self._op_now = now
            self._expire()
            while self._watch_head >= 0:
                slot = self._watch_head
                r = rec_at(self._pages, slot)
                if ext_at(self._pages, slot).at > now:
                    break
                out.append(self._view(slot))
                self._unwatch(slot, r)
            return out
        finally:
            self._busy = False

    def watched(self):
        """How many orders are on the watch."""
        return self._n_watched

    def close_local(self, client_order_id, state, code, msg):
        """REST rejection (REJECTED) or resolution as never placed (FAILED).

        Only an order the feed never acknowledged can be closed this way: once the exchange has
        told us the order exists, only the feed or a status query may end it. ``int(code)`` and
        ``str(msg)`` are taken first, whatever happens next.
        """
        cdef int32_t slot
        cdef Rec* r
        cdef int flags
        cdef int cell
        self._enter()
        try:
            self._begin(True)
            target = _index("state", state)
            error = (int(code), _exact_str(str(msg)))
            key = _key(client_order_id)
            self._expire()
            self._reserve_feed()
            slot = self._slot_of(key)
            self._last_slot = slot
            self._last_frozen = None
            if slot < 0:
                return 0
            r = rec_at(self._pages, slot)
            if r.flags & RF_ACKED or not (target == S_REJECTED or target == S_FAILED):
                return 0
            cell = _CELLS[r.state][_EV_REJECTED_LOCAL if target == S_REJECTED else _EV_FAILED_LOCAL]
            if (cell >> 4) & _A_REFUSE:
                return 0
            # The error first (a dict insert, the only step that could fail), then the cell.
            self._errors[slot] = error
            r.flags |= RF_ERROR
            flags = self._take(slot, r, cell, 0)
            if flags & self._dirty_mask and not r.dirty:
                flags |= self._mark_dirty(slot, r)
            return flags
        finally:
            self._busy = False

    def begin_cancel(self, client_order_id):
        """placing/active -> cancelling; returns the previous state, or -1 when not allowed."""
        cdef int32_t slot
        cdef Rec* r
        cdef int prev
        self._enter()
        try:
            self._begin(False)
            key = _key(client_order_id)
            self._expire()
            slot = self._slot_of(key)
            if slot < 0:
                return -1
            r = rec_at(self._pages, slot)
            prev = r.state
            return -1 if self._take(slot, r, _CELLS[prev][_EV_CANCEL_SENT], 0) < 0 else prev
        finally:
            self._busy = False

    def undo_cancel(self, client_order_id, previous):
        """A cancel the exchange definitely did not process: back to where it was."""
        cdef int32_t slot
        cdef Rec* r
        cdef int prev
        cdef int ev
        self._enter()
        try:
            prev = _previous(previous)
            slot = self._slot_of(_key(client_order_id))
            if slot < 0 or prev < 0:
                return False
            r = rec_at(self._pages, slot)
            ev = _EV_CANCEL_REFUSED_ACKED if (prev == S_ACTIVE or r.flags & RF_ACKED) else _EV_CANCEL_REFUSED
            return self._take(slot, r, _CELLS[r.state][ev], 0) >= 0
        finally:
            self._busy = False

    # ── the feed ──

    def feed(self, data):
        """One raw user-stream frame. Raises TypeError only for an unsupported argument type (as
        the pure twin's decoder does); bad content is counted, never raised. Subclasses of bytes,
        bytearray and str are read as their contents (see ``_decode_py.decode``)."""
        self._enter()
        try:
            return self._feed_any(data)
        finally:
            self._busy = False

    def feed_call(self, data, list table, int slow):
        """``feed(data)``, then, when the result is one the shell would only hand to the order's
        callback, that callback run here: the order's handle (``set_hook``) indexes ``table``, whose
        entry is ``(on_partial, on_fill, on_cancel, on_trigger)`` or anything else (None: the shell
        decides); the flags pick one (F_TRIGGERED, else F_PARTIAL, else F_FILLED, else F_CLOSED)
        and it is called with the order's view once the core is free again (it may call the core).
        Not for a result with a ``slow`` bit, nor one that asks for two callbacks (a partial fill
        that also closes the order, a trigger with a fill or a close), nor with ``table`` None. A
        result handled here comes back without F_HOOKED; with F_CALLED when the callback raised or
        returned something (``call_outcome()`` has it)."""
        return self._feed_call(data, table, slow)

    def set_shell(self, table, work, slow, post, after):
        """What ``feed_shell`` needs of the shell: the ``table`` of ``feed_call`` (a list, or None),
        a container that is not empty while the shell has work queued (then no callback runs
        here: it would overtake that work), the ``slow`` mask, and ``after(flags)``, called for a
        result with a ``post`` bit."""
        if table is not None and not isinstance(table, list):
            raise TypeError(f"table must be a list or None, not {type(table).__name__}")
        if not callable(after):
            raise TypeError("after must be callable")
        slow_i = _index("slow", slow)
        post_i = _index("post", post)
        self._sh_table = table
        self._sh_work = work
        self._sh_slow = slow_i & 0x7FFFFFFF
        self._sh_post = post_i & 0x7FFFFFFF
        self._sh_after = after

    def feed_shell(self, data):
        """One raw frame for the shell (its ``feed``): ``feed_call(data, table, slow)`` with what
        ``set_shell`` gave (the table None while work is queued), then ``after(flags)`` when the
        result has a ``post`` bit. An argument that is not bytes-like or str is counted as
        malformed, never raised; what ``after`` raises goes to the caller. Without ``set_shell``,
        it is ``feed`` and returns nothing."""
        cdef int flags
        try:
            flags = self._feed_call(data, None if self._sh_work else self._sh_table, self._sh_slow)
        except TypeError:  # not bytes-like or str: counted as malformed like any bad frame
            flags = self.feed_decoded(R_MALFORMED, None)
        if flags & self._sh_post:
            self._sh_after(flags)

    cdef int _feed_call(self, object data, list table, int slow) except -1:
        cdef int flags
        cdef int32_t h
        cdef Py_ssize_t k
        self._enter()
        try:
            flags = self._feed_any(data)
            if (not (flags & F_HOOKED) or flags & slow or table is None or self._last_slot < 0
                    or (flags & F_CLOSED and flags & (F_PARTIAL | F_TRIGGERED))
                    or (flags & F_TRIGGERED and flags & F_FILL)):
                return flags
            h = rec_at(self._pages, self._last_slot).hook
            if h < 0 or h >= len(table):
                return flags
            entry = table[h]
            if type(entry) is not tuple or len(<tuple>entry) != 4:  # (the C reads below need it)
                return flags
            k = (3 if flags & F_TRIGGERED else 0 if flags & F_PARTIAL else 1 if flags & F_FILLED
                 else 2 if flags & F_CLOSED else 4)
            fn = (<tuple>entry)[k] if k < 4 else None
            if fn is None:
                return flags & ~F_HOOKED
            view = self._view(self._last_slot)
        finally:
            self._busy = False
        try:
            result = fn(view)
        except Exception as exc:
            self._outcome = (fn, view, None, exc)
            return (flags & ~F_HOOKED) | F_CALLED
        if result is None:
            return flags & ~F_HOOKED
        self._outcome = (fn, view, result, None)
        return (flags & ~F_HOOKED) | F_CALLED

    def call_outcome(self):
        """What the callback ``feed_call`` ran left for the shell: (callback, order, result,
        exception), once; None when there is nothing."""
        out = self._outcome
        self._outcome = None
        return out

    def set_dirty_mask(self, mask):
        """From now on, a feed/feed_decoded/feed_call/close_local result with a ``mask`` bit puts
        its order on the dirty list (once until ``take_dirty``); the result that makes the list
        non-empty carries F_DIRTY, so the caller schedules one flush for a burst. 0 (the default):
        nothing is marked."""
        self._dirty_mask = _index("mask", mask) & 0x7FFFFFFF & ~F_DIRTY  # the F_* bits: any int works

    def take_dirty(self):
        """The orders on the dirty list, in marking order, and the list emptied. One the core let
        go of meanwhile comes as its frozen view (its final values)."""
        cdef list out = []
        cdef Py_ssize_t k
        cdef int32_t s
        self._enter()
        try:
            # The views first (they may fail): the list is emptied only once they all exist.
            for k in range(self._dirty_len):
                s = self._dirty[k]
                out.append(self._view(s) if s >= 0 else self._dirty_gone[-1 - s])
            for k in range(self._dirty_len):
                s = self._dirty[k]
                if s >= 0:
                    rec_at(self._pages, s).dirty = 0
            self._dirty_len = 0
            if self._dirty_gone:
                self._dirty_gone = []
            return out
        finally:
            self._busy = False

    cdef int _feed_any(self, object data) except -1:
        cdef Update u
        cdef _Hint hint
        cdef Py_buffer view
        cdef const char* s
        cdef Py_ssize_t n
        cdef int res
        if True:
            if type(data) is bytes:
                s = PyBytes_AS_STRING(data)
                n = PyBytes_GET_SIZE(data)
                hint.t = &self._by_cid
                hint.pages = self._pages
                hint.have_h = False
                res = decode_frame_hinted(<const unsigned char*>s, n, &u, _cid_hint, &hint)
            elif isinstance(data, str):
                try:
                    s = PyUnicode_AsUTF8AndSize(data, &n)
                except UnicodeEncodeError:  # lone surrogates: orjson rejects the text as not UTF-8
                    s = NULL
                    n = 0
                res = decode_frame(<const unsigned char*>s, n, &u)
            elif isinstance(data, bytearray):
                res = decode_frame(<const unsigned char*>PyByteArray_AS_STRING(data),
                                   PyByteArray_GET_SIZE(data), &u)
            elif isinstance(data, (bytes, memoryview)):
                if isinstance(data, memoryview) and not data.c_contiguous:
                    raise TypeError("decode() needs a contiguous buffer")
                PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
                try:
                    res = decode_frame(<const unsigned char*>view.buf, view.len, &u)
                finally:
                    PyBuffer_Release(&view)
            else:
                raise TypeError("decode() takes bytes, bytearray, memoryview or str, "
                                f"not {type(data).__name__}")
            return self._feed_update(res, &u)

    def feed_decoded(self, result, fields):
        """Apply the output of ``decode``/``decode_dict`` (dict inputs come this way).

        Values outside the decoder's contract (see ``_core_py.OrderCore.feed_decoded``) make the
        frame malformed; nothing is raised for them.
        """
        cdef Update u
        cdef int32_t slot
        cdef Rec* r
        cdef int flags
        cdef int kind = 2
        cdef int64_t v
        self._enter()
        try:
            self._begin(False)  # (the clock, when the event may close its order: _clock_for)
            memset(&u, 0, sizeof(Update))
            cid = None
            event_time = 0
            # Every value is read once and checked before anything changes.
            if result == R_OTHER_EVENT:
                kind = 1
            elif result == R_ORDER and fields is not None:
                kind = 0
                cid = fields.get("cid", _BAD)
                if cid is not None:
                    cid = _exact_str(cid) if isinstance(cid, str) else _BAD
                status = fields.get("status")
                if type(status) is int and ST_NONE <= status <= ST_FINISHED:
                    u.status = status
                else:
                    kind = 2
                value = fields.get("algo")
                if value is True:
                    u.present |= P_ALGO
                elif value is not None and value is not False:
                    kind = 2
                value = fields.get("event_time", 0)
                v = _field_int(value)
                if v == -2:
                    kind = 2
                elif v >= 0:
                    event_time = v
                if _opt_int(fields, "order_id", &u.order_id, P_ORDER_ID, &u.present):
                    kind = 2
                value = fields.get("z", _MISSING)
                if value is None:
                    u.present |= P_Z_NULL
                elif value is not _MISSING:
                    v = _field_int(value)
                    if v < 0:
                        kind = 2
                    else:
                        u.z = v
                        u.present |= P_Z
                if _opt_int(fields, "ap", &u.ap, P_AP, &u.present):
                    kind = 2
                if _opt_int(fields, "L", &u.L, P_LP, &u.present):
                    kind = 2
                if _opt_int(fields, "q", &u.q, P_Q, &u.present):
                    kind = 2
                if _opt_int(fields, "p", &u.p, P_P, &u.present):
                    kind = 2
                if fields.get("amended") is True:
                    u.present |= P_AMENDED
                if cid is _BAD:
                    kind = 2
            self._expire()
            self._reserve_feed()
            slot = -1
            if kind == 0:
                slot = self._slot_of(cid)
                self._clock_for(slot, &u)
            self._last_slot = -1
            self._last_frozen = None
            self._last_event_time = 0
            self._cnt[C_FRAMES] += 1
            if kind == 1:
                self._cnt[C_OTHER_EVENTS] += 1
                return F_OTHER_EVENT
            if kind == 2:
                self._cnt[C_MALFORMED] += 1
                return F_MALFORMED
            if slot < 0:
                self._cnt[C_UNKNOWN_IDS] += 1
                return F_UNKNOWN_ID
            self._last_slot = slot
            self._last_event_time = event_time
            r = rec_at(self._pages, slot)
            flags = self._apply(slot, r, &u)
            if r.flags & RF_HOOKED:
                flags |= F_HOOKED
            if flags & self._dirty_mask and not r.dirty:
                flags |= self._mark_dirty(slot, r)
            return flags
        finally:
            self._busy = False

    cdef int _clock_for(self, int32_t slot, const Update* u) except -1:
        # A feed event reads a Python clock when it may close its order (_may_close), after the
        # lookup and before anything changes: a clock may raise or call back.
        if slot >= 0 and not self._now_read and not self._mono and _may_close(u, ext_at(self._pages, slot)):
            self._op_now = self._now()
            self._now_read = True
        return 0

    cdef int _feed_update(self, int result, Update* u) except -1:
        cdef int32_t slot
        cdef Rec* r
        cdef int flags
        self._begin(False)
        self._expire()
        self._reserve_feed()
        slot = -1
        if result == R_ORDER:
            slot = self._find_cid(u.cid, u.cid_len) if u.cid_len >= 0 else -1  # -1: longer than 36
            self._clock_for(slot, u)
        self._last_slot = -1
        self._last_frozen = None
        self._last_event_time = 0
        self._cnt[C_FRAMES] += 1
        if result == R_OTHER_EVENT:
            self._cnt[C_OTHER_EVENTS] += 1
            return F_OTHER_EVENT
        if result != R_ORDER:
            self._cnt[C_MALFORMED] += 1
            return F_MALFORMED
        if slot < 0:
            self._cnt[C_UNKNOWN_IDS] += 1
            return F_UNKNOWN_ID
        self._last_slot = slot
        if u.present & P_EVENT_TIME:
            self._last_event_time = u.event_time
        r = rec_at(self._pages, slot)
        flags = self._apply(slot, r, u)
        if r.flags & RF_HOOKED:
            flags |= F_HOOKED
        if flags & self._dirty_mask and not r.dirty:
            flags |= self._mark_dirty(slot, r)
        return flags

    # ── the transition function: _states.TRANSITIONS plus the fill arithmetic of its notes ──
    # o.z is the cumulative filled quantity and o.X the order status (docs/binance-protocol.md,
    # "Order update event"): z is the truth, a z not above what we know is stale.

    cdef int _apply(self, int32_t slot, Rec* r, const Update* u) except -1:
        # One feed event: the fill arithmetic (notes 1-3 under _states.TRANSITIONS), then the
        # table's cell for (state, event), then the flags of note 6. _core_py._apply, step for step.
        cdef int flags = 0
        cdef int ev = u.status
        cdef bint has_z
        cdef bint size
        cdef bint was_terminal
        cdef int64_t z = 0
        cdef Ext* x = ext_at(self._pages, slot)
        cdef bint is_algo = (r.kind >> 1) >= _FIRST_ALGO_TYPE
        cdef bint algo_event = (u.present & P_ALGO) != 0
        # note 7: the created order's events (or FINISHED) show a trigger we may not have seen
        cdef bint reveal = is_algo and (not algo_event or ev == ST_FINISHED)
        if u.present & P_ORDER_ID and not (r.flags & RF_OID):
            self._set_oid(slot, r, u.order_id)
        if algo_event and not is_algo:
            ev = ST_OTHER  # an ALGO_UPDATE for a LIMIT/MARKET order: unknown (note 7)
        elif ev >= ST_TRIGGERING:  # the algo statuses' columns; no order status (note 7)
            ev = ev - ST_TRIGGERING + _EV_TRIGGERING if algo_event else ST_OTHER
        if ev == ST_NONE or ev == ST_OTHER:
            self._cnt[C_UNKNOWN_STATUS] += 1
            flags = F_UNKNOWN_STATUS
            ev = _EV_UNKNOWN
            has_z = u.present & P_Z
            z = u.z
        elif ev == ST_FILLED:
            if u.present & P_Z:
                has_z = True
                z = u.z
            else:
                has_z = not (u.present & P_Z_NULL)
                z = x.qty
        else:
            has_z = u.present & P_Z
            z = u.z
            if ev == ST_NEW or ev == ST_PARTIALLY_FILLED:
                # Note 9: an amendment, or a partial fill, states the order's size; taken first,
                # so that the fill is measured against it.
                size = (u.present & P_AMENDED) or (ev == ST_PARTIALLY_FILLED and has_z and z > r.filled)
                if u.present & P_AMENDED:
                    ev = _EV_AMENDED
                if size and not is_algo and (_CELLS[r.state][_EV_AMENDED] >> 4) & _A_AMEND:
                    if u.present & P_P and u.p > 0 and u.p != x.price:
                        x.price = u.p
                        flags = F_AMENDED
                    if (u.present & P_Q and u.q > r.filled and (not has_z or u.q > z)
                            and u.q != x.qty):
                        x.qty = u.q
                        flags = F_AMENDED
        if has_z and z > r.filled:
            flags |= self._fill(r, x, z, u)
            if r.filled >= x.qty:
                ev = _EV_COMPLETED
        was_terminal = r.state >= S_FIRST_TERMINAL
        if reveal and S_PLACING <= r.state < S_TRIGGERED:
            flags = self._take(slot, r, _CELLS[r.state][_EV_TRIGGERED], flags)
        flags = self._take(slot, r, _CELLS[r.state][ev], flags)
        if ev == _EV_EXPIRED_IN_MATCH and flags & F_CLOSED:
            r.flags |= RF_STP  # note 8
        if flags & F_FILL:
            if was_terminal:
                self._cnt[C_LATE_FILLS] += 1
                flags |= F_LATE_FILL
            elif not (flags & F_FILLED):
                flags |= F_PARTIAL
        elif was_terminal or not flags:
            self._cnt[C_STALE] += 1
            flags |= F_STALE
        return flags

    cdef int _take(self, int32_t slot, Rec* r, int cell, int flags) except -2:
        # Apply one cell of the transition table: -1 if it refuses, else flags plus its own.
        cdef int acts = cell >> 4
        cdef int new = cell & 15
        if acts & _A_REFUSE:
            return -1
        if acts & _A_ACK:
            if not (r.flags & RF_ACKED):
                r.flags |= RF_ACKED
                flags |= F_ACTIVATED
        elif acts & _A_SEEN:
            r.flags |= RF_ACKED
        if acts & _A_CLOSED:
            flags |= F_CLOSED
        if acts & _A_FILLED:
            flags |= F_FILLED
        if acts & _A_ORPHAN:
            self._cnt[C_ORPHANS] += 1
            flags |= F_ORPHAN
        if acts & _A_TRIGGER:
            flags |= F_TRIGGERED
        if new != _KEEP:
            self._set_state(slot, r, new)
        return flags

    cdef int _fill(self, Rec* r, Ext* x, int64_t z, const Update* u) except -1:
        cdef int64_t inc = z - r.filled
        cdef int64_t ap = u.ap if u.present & P_AP else 0
        cdef int64_t lp = u.L if u.present & P_LP else 0
        cdef int ok = 0
        cdef int64_t last_price = lp
        if ap:
            if not lp:
                # No last price (a status-query answer): the increase's own price follows from the
                # two averages, exactly: (ap*z - avg*filled) / inc, rounded half up. Rare: Python ints.
                last_price = max(0, min((<object>ap * z - <object>x.avg * r.filled + inc // 2) // inc,
                                        9223372036854775807))
                if last_price <= 0:
                    last_price = ap
            x.avg = ap
        elif lp:
            # No average from the exchange: keep a weighted one (exact integer arithmetic).
            if (-4611686018427387904 <= x.avg <= 4611686018427387904
                    and -4611686018427387904 <= lp <= 4611686018427387904):
                x.avg = te_wavg(x.avg, r.filled, lp, inc, z, &ok)
            if not ok:
                x.avg = (<object>x.avg * r.filled + <object>lp * inc + z // 2) // z
        r.filled = z
        x.last_qty = inc
        x.last_price = last_price if last_price else x.avg
        self._cnt[C_FILLS] += 1
        return F_FILL

    # ── the single transition point ──

    cdef int _set_state(self, int32_t slot, Rec* r, int new) except -1:
        cdef int old = r.state
        if old == new:
            return 0
        r.state = new
        if r.flags & RF_WATCHED and not (new == S_PLACING or new == S_CANCELLING):
            self._unwatch(slot, r)  # the feed (or a local close) answered: no question to ask
        if new >= S_FIRST_TERMINAL:
            if old < S_FIRST_TERMINAL:
                self._unlink_live(slot)
                # A Python clock was read before anything changed (_begin(closing=True), or
                # _clock_for when a feed event may close the order).
                ext_at(self._pages, slot).at = te_monotonic() if self._mono else self._op_now
                # Room was made by _reserve_feed() at the start of the operation.
                self._ring[(self._ring_head + self._ring_len) & (self._ring_cap - 1)] = slot
                self._ring_len += 1
            self._cnt[C_TERMINAL] += 1
        return 0

    cdef int _set_oid(self, int32_t slot, Rec* r, int64_t oid) except -1:
        # As the pure dict assignment: the latest order to report an id owns it in the index.
        cdef uint64_t h = _oid_hash(self._seed, oid)
        cdef int64_t i = oid_bucket(&self._by_oid, self._pages, oid, h)
        r.oid = oid
        r.flags |= RF_OID
        if i >= 0:
            self._by_oid.b[i] = (<uint32_t>(slot + 1) << 8) | (self._by_oid.b[i] & 0xFF)  # same key
        else:
            ht_put(&self._by_oid, slot, h)  # room made by _reserve_feed()
        return 0

    cdef void _link_live(self, int32_t slot) noexcept:
        cdef StrEnt* strs = self._strs
        cdef const Ext* x = ext_at(self._pages, slot)
        cdef PairEnt* pe = &self._pairs[x.pair]
        list_append(self._pages, &self._all_head, &self._all_tail, L_ALL, slot)
        list_append(self._pages, &strs[pe.sub].head[ROLE_SUB], &strs[pe.sub].tail[ROLE_SUB], L_SUB, slot)
        list_append(self._pages, &strs[pe.sym].head[ROLE_SYM], &strs[pe.sym].tail[ROLE_SYM], L_SYM, slot)
        list_append(self._pages, &pe.head, &pe.tail, L_PAIR, slot)
        if x.parent >= 0:
            list_append(self._pages, &strs[x.parent].head[ROLE_PARENT], &strs[x.parent].tail[ROLE_PARENT],
                        L_PARENT, slot)
        self._n_live += 1

    cdef void _unwatch(self, int32_t slot, Rec* r) noexcept:
        list_remove(self._pages, &self._watch_head, &self._watch_tail, L_WATCH, slot)
        r.flags &= ~RF_WATCHED
        self._n_watched -= 1

    cdef void _unlink_live(self, int32_t slot) noexcept:
        cdef StrEnt* strs = self._strs
        cdef const Ext* x = ext_at(self._pages, slot)
        cdef PairEnt* pe = &self._pairs[x.pair]
        list_remove(self._pages, &self._all_head, &self._all_tail, L_ALL, slot)
        list_remove(self._pages, &strs[pe.sub].head[ROLE_SUB], &strs[pe.sub].tail[ROLE_SUB], L_SUB, slot)
        list_remove(self._pages, &strs[pe.sym].head[ROLE_SYM], &strs[pe.sym].tail[ROLE_SYM], L_SYM, slot)
        list_remove(self._pages, &pe.head, &pe.tail, L_PAIR, slot)
        if x.parent >= 0:
            list_remove(self._pages, &strs[x.parent].head[ROLE_PARENT], &strs[x.parent].tail[ROLE_PARENT],
                        L_PARENT, slot)
        self._n_live -= 1

    # ── retention ──

    cdef double _now(self) except? -1.0:
        if self._mono:
            return te_monotonic()
        return self._clock()

    cdef int _expire(self) except -1:
        """Let go of terminal orders past the retention (called before each operation, never
        inside one, so an order is always still there for the callbacks of its own last event).
        The time is the one _begin() read."""
        cdef int32_t slot
        cdef Py_ssize_t mask = self._ring_cap - 1
        while self._ring_len:
            slot = self._ring[self._ring_head]
            if not (self._ring_len > self._max
                    or self._op_now - ext_at(self._pages, slot).at >= self._ttl):
                break
            # Off the ring before it is evicted: the slot can never be found there twice. If the
            # eviction fails (memory), it goes back to the head untouched.
            self._ring_head = (self._ring_head + 1) & mask
            self._ring_len -= 1
            try:
                self._evict(slot)
            except BaseException:
                self._ring_head = (self._ring_head + mask) & mask
                self._ring_len += 1
                raise
        return 0

    cdef int _evict(self, int32_t slot) except -1:
        cdef Rec* r = rec_at(self._pages, slot)
        cdef Ext* x = ext_at(self._pages, slot)
        cdef int64_t i
        cdef OrderState v
        # Python side first (it may fail): freeze the views that outlive the record.
        if r.flags & RF_VIEW or slot == self._last_slot or r.dirty:
            v = self._view(slot)
            if r.dirty:
                # Still owed to take_dirty(): its entry names the frozen view from now on. Rare (an
                # order evicted within the loop turn that changed it), so the entry is searched for.
                self._dirty_gone.append(v)
                for i in range(self._dirty_len):
                    if self._dirty[i] == slot:
                        self._dirty[i] = <int32_t>(-len(self._dirty_gone))
                        break
                r.dirty = 0
            self._freeze(v)
            if slot == self._last_slot:
                self._last_frozen = v
                self._last_slot = -1
        if r.flags & RF_ERROR:
            del self._errors[slot]
        # C side: cannot fail.
        i = cid_bucket(&self._by_cid, self._pages, r.cid, r.cid_len, _cid_hash(self._seed, r.cid, r.cid_len))
        if i >= 0:
            ht_delete_at(&self._by_cid, <uint32_t>i)
        if r.flags & RF_OID:
            i = oid_bucket(&self._by_oid, self._pages, r.oid, _oid_hash(self._seed, r.oid))
            if i >= 0 and bucket_slot(self._by_oid.b[i]) == slot:  # another order may have reported it since
                ht_delete_at(&self._by_oid, <uint32_t>i)
        self._release_pair(x.pair)
        self._release(x.origin)
        if x.parent >= 0:
            self._release(x.parent)
        if x.tif >= 0:
            self._release(x.tif)
        r.gen += 1
        r.flags = 0
        r.state = S_IDLE
        x.link[0] = self._free
        self._free = slot
        self._n_tracked -= 1
        self._cnt[C_EVICTED] += 1
        return 0

    # ── slots, interning ──

    cdef int _reserve(self) except -1:
        """Room for one more order in every structure that add() or a later transition fills."""
        cdef Page** pages
        cdef Page* page
        cdef void* raw
        cdef Py_ssize_t cap
        cdef int32_t i
        ht_reserve(&self._by_cid, self._pages, self._by_cid.count + 1)
        if self._free >= 0 or self._hwm < self._npages * PAGE_SIZE:
            return 0
        if self._npages * PAGE_SIZE >= SLOT_LIMIT:
            raise MemoryError("order core is full")
        if self._npages == self._pages_cap:
            cap = self._pages_cap * 2 if self._pages_cap else 8
            pages = <Page**>PyMem_RawRealloc(self._pages, cap * sizeof(Page*))
            if pages == NULL:
                raise MemoryError()
            self._pages = pages
            self._pages_cap = cap
        raw = PyMem_RawMalloc(sizeof(Page) + 63)
        if raw == NULL:
            raise MemoryError()
        page = <Page*>((<uintptr_t>raw + 63) & ~(<uintptr_t>63))  # each Rec on its own line
        page.raw = raw
        for i in range(PAGE_SIZE):
            page.rec[i].gen = 0
            page.rec[i].flags = 0
            page.rec[i].state = S_IDLE
        self._pages[self._npages] = page
        self._npages += 1
        return 0

    cdef int _reserve_feed(self) except -1:
        """Room for what one transition may add: an exchange id in the index, a slot in the
        retention ring (so that nothing fails half way through a transition)."""
        cdef int32_t* ring
        cdef Py_ssize_t cap, k
        cdef int32_t* dirty
        if self._by_oid.count + self._by_oid.tombs + 1 >= self._by_oid.limit:
            ht_reserve(&self._by_oid, self._pages, self._by_oid.count + 1)
        if self._dirty_len == self._dirty_cap and self._dirty_mask:
            cap = self._dirty_cap * 2 if self._dirty_cap else 64
            dirty = <int32_t*>PyMem_RawRealloc(self._dirty, cap * sizeof(int32_t))
            if dirty == NULL:
                raise MemoryError()
            self._dirty = dirty
            self._dirty_cap = cap
        if self._ring_len < self._ring_cap:
            return 0
        cap = self._ring_cap * 2 if self._ring_cap else 64
        ring = <int32_t*>PyMem_RawMalloc(cap * sizeof(int32_t))
        if ring == NULL:
            raise MemoryError()
        for k in range(self._ring_len):
            ring[k] = self._ring[(self._ring_head + k) & (self._ring_cap - 1)]
        PyMem_RawFree(self._ring)
        self._ring = ring
        self._ring_cap = cap
        self._ring_head = 0
        return 0

    cdef int _mark_dirty(self, int32_t slot, Rec* r) noexcept:
        # Room was made by _reserve_feed().
        r.dirty = 1
        self._dirty[self._dirty_len] = slot
        self._dirty_len += 1
        return F_DIRTY if self._dirty_len == 1 else 0

    cdef int32_t _alloc_slot(self) except -1:
        # Room was made by _reserve().
        cdef int32_t slot
        if self._free >= 0:
            slot = self._free
            self._free = ext_at(self._pages, slot).link[0]
            return slot
        slot = self._hwm
        self._hwm += 1
        return slot

    cdef int32_t _intern(self, object obj) except -2:
        cdef int32_t idx
        cdef StrEnt* e
        cdef StrEnt* strs
        cdef int32_t cap, k
        found = self._str_idx.get(obj)
        if found is not None:
            idx = found
            self._strs[idx].refs += 1
            return idx
        if self._strs_free >= 0:
            idx = self._strs_free
            self._strs_free = self._strs[idx].head[0]
            self._str_obj[idx] = obj
        else:
            if self._strs_used == self._strs_cap:
                cap = self._strs_cap * 2 if self._strs_cap else _STRS_MIN
                strs = <StrEnt*>PyMem_RawRealloc(self._strs, cap * sizeof(StrEnt))
                if strs == NULL:
                    raise MemoryError()
                self._strs = strs
                self._strs_cap = cap
            idx = self._strs_used
            self._str_obj.append(obj)
            self._strs_used += 1
        try:
            self._str_idx[obj] = idx
        except BaseException:
            self._str_obj[idx] = None
            self._strs[idx].head[0] = self._strs_free
            self._strs_free = idx
            raise
        e = &self._strs[idx]
        e.refs = 1
        for k in range(3):
            e.head[k] = -1
            e.tail[k] = -1
        return idx

    cdef void _release(self, int32_t idx) noexcept:
        cdef StrEnt* e = &self._strs[idx]
        e.refs -= 1
        if e.refs > 0:
            return
        obj = self._str_obj[idx]
        try:
            del self._str_idx[obj]
        except BaseException:  # pragma: no cover - a str key cannot fail to compare
            pass
        self._str_obj[idx] = None
        e.head[0] = self._strs_free
        self._strs_free = idx

    cdef int32_t _pair(self, int32_t sub, int32_t sym) except -2:
        """The (sub, symbol) entry; a new one keeps the caller's references on both strings,
        an existing one already has its own, so the caller's are dropped."""
        cdef int32_t idx
        cdef int32_t cap
        cdef PairEnt* pairs
        cdef PairEnt* pe
        key = (<int64_t>sub << 32) | sym
        found = self._pair_idx.get(key)
        if found is not None:
            idx = found
            self._pairs[idx].refs += 1
            self._release(sub)
            self._release(sym)
            return idx
        if self._pairs_free >= 0:
            idx = self._pairs_free
            self._pairs_free = self._pairs[idx].head
        else:
            if self._pairs_used == self._pairs_cap:
                cap = self._pairs_cap * 2 if self._pairs_cap else _STRS_MIN
                pairs = <PairEnt*>PyMem_RawRealloc(self._pairs, cap * sizeof(PairEnt))
                if pairs == NULL:
                    raise MemoryError()
                self._pairs = pairs
                self._pairs_cap = cap
            idx = self._pairs_used
            self._pairs_used += 1
        self._pair_idx[key] = idx
        pe = &self._pairs[idx]
        pe.sub = sub
        pe.sym = sym
        pe.refs = 1
        pe.head = -1
        pe.tail = -1
        return idx

    cdef void _release_pair(self, int32_t idx) noexcept:
        cdef PairEnt* pe = &self._pairs[idx]
        pe.refs -= 1
        if pe.refs > 0:
            return
        try:
            del self._pair_idx[(<int64_t>pe.sub << 32) | pe.sym]
        except BaseException:  # pragma: no cover - an int key cannot fail
            pass
        self._release(pe.sub)
        self._release(pe.sym)
        pe.head = self._pairs_free
        self._pairs_free = idx

    # ── lookups ──

    cdef int32_t _find_cid(self, const char* cid, Py_ssize_t n) noexcept:
        cdef int64_t i = cid_bucket(&self._by_cid, self._pages, cid, n, _cid_hash(self._seed, cid, n))
        return bucket_slot(self._by_cid.b[i]) if i >= 0 else -1

    cdef int32_t _find_oid(self, int64_t oid) noexcept:
        cdef int64_t i = oid_bucket(&self._by_oid, self._pages, oid, _oid_hash(self._seed, oid))
        return bucket_slot(self._by_oid.b[i]) if i >= 0 else -1

    cdef int32_t _slot_of(self, object key) except -2:
        # key: what _key() made of the caller's id (a plain str, or None for "names nothing").
        cdef const char* s
        cdef Py_ssize_t n
        if key is None:
            return -1
        try:
            s = PyUnicode_AsUTF8AndSize(key, &n)
        except UnicodeEncodeError:  # lone surrogates: add() never accepted such an id
            return -1
        if n > CID_CAP:
            return -1
        return self._find_cid(s, n)

    # ── views ──

    cdef object _view(self, int32_t slot):
        """The registered view of a tracked slot, made on first use (one object per order, as the
        pure twin's one object, while anyone holds it)."""
        cdef Rec* r = rec_at(self._pages, slot)
        cdef OrderState v
        cdef int64_t i
        if r.flags & RF_VIEW:
            i = self._vt_find(slot)
            if i >= 0:
                return <object>self._vt[i].obj
            r.flags &= ~RF_VIEW  # pragma: no cover - the flag and the table always agree
        v = OrderState.__new__(OrderState)
        v._core = self
        v._slot = slot
        v._gen = r.gen
        self._vt_put(slot, <PyObject*>v)
        r.flags |= RF_VIEW
        return v

    cdef int64_t _vt_find(self, int32_t slot) noexcept:
        cdef uint32_t i
        if self._vt == NULL:
            return -1
        i = _vt_home(slot, self._vt_mask)
        while self._vt[i].slot >= 0:
            if self._vt[i].slot == slot:
                return i
            i = (i + 1) & self._vt_mask
        return -1

    cdef int _vt_put(self, int32_t slot, PyObject* obj) except -1:
        cdef VEnt* old = self._vt
        cdef uint32_t old_cap = self._vt_mask + 1 if old != NULL else 0
        cdef uint32_t cap, i, k
        if old == NULL or (self._vt_count + 1) * 2 > old_cap:
            cap = old_cap * 2 if old_cap else 64
            self._vt = <VEnt*>PyMem_RawMalloc(cap * sizeof(VEnt))
            if self._vt == NULL:
                self._vt = old
                raise MemoryError()
            for i in range(cap):
                self._vt[i].slot = -1
            self._vt_mask = cap - 1
            self._vt_count = 0
            for k in range(old_cap):
                if old[k].slot >= 0:
                    self._vt_put(old[k].slot, old[k].obj)
            PyMem_RawFree(old)
        i = _vt_home(slot, self._vt_mask)
        while self._vt[i].slot >= 0:
            i = (i + 1) & self._vt_mask
        self._vt[i].slot = slot
        self._vt[i].obj = obj
        self._vt_count += 1
        return 0

    cdef void _vt_remove(self, int32_t slot) noexcept:
        # Backward-shift deletion: the home of a view's slot costs a multiply, not a record read.
        cdef int64_t found = self._vt_find(slot)
        cdef uint32_t i, j, home
        if found < 0:
            return
        i = <uint32_t>found
        j = i
        while True:
            j = (j + 1) & self._vt_mask
            if self._vt[j].slot < 0:
                break
            home = _vt_home(self._vt[j].slot, self._vt_mask)
            if i <= j:
                if i < home <= j:
                    continue
            elif i < home or home <= j:
                continue
            self._vt[i] = self._vt[j]
            i = j
        self._vt[i].slot = -1
        self._vt[i].obj = NULL
        self._vt_count -= 1

    cdef int _freeze(self, OrderState v) except -1:
        """Give ``v`` its own copy of the record and strings (the slot is about to be freed)."""
        cdef Rec* r = rec_at(self._pages, v._slot)
        cdef Snap* snap
        strs = (v._str(0), v._str(1), v._str(2), v._str(3), v._str(4), v._str(5))
        snap = <Snap*>PyMem_RawMalloc(sizeof(Snap))
        if snap == NULL:
            raise MemoryError()
        memcpy(&snap.rec, r, sizeof(Rec))
        memcpy(&snap.ext, ext_at(self._pages, v._slot), sizeof(Ext))
        snap.rec.flags &= ~RF_VIEW
        v._strs = strs
        v._snap = snap
        self._vt_remove(v._slot)
        r.flags &= ~RF_VIEW
        v._slot = -1
        v._core = None
        return 0

    cdef list _walk(self, int32_t head, int lst):
        cdef list out = []
        cdef int32_t s = head
        while s >= 0:
            out.append(self._view(s))
            s = ext_at(self._pages, s).link[2 * lst + 1]
        return out
