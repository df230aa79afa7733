# Table of contents of the compiled order core (_core_c.pyx), the twin of _core_py.py.
#
# Every tracked order is one fixed-layout record, a Rec line and its Ext, in pages of PAGE_SIZE
# records (a page never moves, so a Rec* stays valid while the tracker grows); a slot number names
# a record, and its generation counter tells a view whether the slot still holds its order.
from cpython.ref cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t

from trading_engine_python.orders._decode_c cimport Update


cdef enum:
    # Order states: the values of _states.py (checked when the module is imported).
    S_IDLE = 0
    S_PLACING = 1
    S_ACTIVE = 2
    S_CANCELLING = 3
    S_TRIGGERING = 4
    S_TRIGGERED = 5
    S_FILLED = 6
    S_CANCELLED = 7
    S_EXPIRED = 8
    S_REJECTED = 9
    S_FAILED = 10
    S_FINISHED = 11
    S_FIRST_TERMINAL = 6

cdef enum:
    # Transition flags: the F_* of _states.py (checked at import).
    F_ACTIVATED = 1
    F_FILL = 2
    F_PARTIAL = 4
    F_FILLED = 8
    F_CLOSED = 16
    F_LATE_FILL = 32
    F_UNKNOWN_STATUS = 64
    F_STALE = 128
    F_UNKNOWN_ID = 256
    F_MALFORMED = 512
    F_OTHER_EVENT = 1024
    F_HOOKED = 2048
    F_ORPHAN = 4096
    F_TRIGGERED = 8192
    F_AMENDED = 16384
    F_CALLED = 32768
    F_DIRTY = 65536

cdef enum:
    # Rec.flags bits.
    RF_ACKED = 1            # the exchange has acknowledged the order (any feed status but unknown)
    RF_REDUCE_ONLY = 2
    RF_OID = 4              # Rec.oid holds Binance's orderId
    RF_VIEW = 8             # an OrderState view of this slot is registered in OrderCore._vt
    RF_ERROR = 16           # OrderCore._errors holds (code, msg) for this slot
    RF_HOOKED = 32          # set_hooked()/set_hook(): feed results for this order carry F_HOOKED
    RF_STP = 64             # closed by EXPIRED_IN_MATCH: expire_reason (note 8 of _states)
    RF_WATCHED = 128        # on the in-flight watch list (Rec.at is its deadline)

cdef enum:
    # Live lists (intrusive, doubly linked): Rec.link[2 * list] = previous, [2 * list + 1] = next.
    L_ALL = 0
    L_SUB = 1
    L_SYM = 2
    L_PAIR = 3
    L_PARENT = 4
    L_WATCH = 5             # acknowledged placing/cancelling orders, in deadline order
    N_LISTS = 6
    # Roles of an interned string that heads a live list (StrEnt.head/tail index).
    ROLE_SUB = 0
    ROLE_SYM = 1
    ROLE_PARENT = 2

cdef enum:
    PAGE_SHIFT = 10
    PAGE_SIZE = 1024
    PAGE_MASK = 1023
    CID_CAP = 36            # Binance's newClientOrderId limit (-4015)
    SLOT_LIMIT = 16776192   # (2**24 // PAGE_SIZE - 1) pages: slot + 1 fits a bucket's 24 bits

cdef enum:
    # Indexes into OrderCore._cnt, in the order of COUNTERS.
    C_ADDED = 0
    C_FRAMES = 1
    C_MALFORMED = 2
    C_OTHER_EVENTS = 3
    C_UNKNOWN_IDS = 4
    C_UNKNOWN_STATUS = 5
    C_STALE = 6
    C_FILLS = 7
    C_LATE_FILLS = 8
    C_ORPHANS = 9
    C_TERMINAL = 10
    C_EVICTED = 11
    N_COUNTERS = 12

cdef enum:
    # Update.present bit the decoder never sets: a dict input gave "z": None explicitly (the pure
    # core's f.get("z", qty) then sees None, not the default).
    P_Z_NULL = 0x40000000


ctypedef struct Rec:
    # 64 bytes, one cache line (a Page is 64-byte aligned): what a lookup by either id reads and
    # the view it makes. Kept apart from the rest (Ext) because a 176-byte record straddles two
    # lines at three of its four offsets modulo 64; one line a lookup instead of 1.5 on average
    # measured 95 -> 86 ns per lookup at 1M live orders (73 at 1k), memory unchanged.
    uint8_t cid_len
    uint8_t state
    uint8_t flags           # RF_*
    uint8_t kind            # bit 0: side (SIDES index), bits 1-3: order type (ORDER_TYPES index)
    # Bumped when the slot is freed. 16 bits are enough: a view whose order is evicted is frozen
    # first, so a mismatch is only a consistency check.
    uint16_t gen
    uint8_t leverage        # 1..125 (LEVERAGE_MAX)
    uint8_t dirty           # on OrderCore._dirty (set_dirty_mask) until take_dirty(); a padding byte
    char cid[36]            # UTF-8 bytes, not NUL-terminated
    int32_t hook            # the shell's handle (set_hook), -1: none
    int64_t oid             # exchange order id (valid when RF_OID)
    int64_t filled          # fixed point 1e8, as every amount of Ext


ctypedef struct Ext:
    # 112 bytes, the rest of a record: what a feed event reads first (the amounts, the time), then
    # what only a close or a query reads.
    int64_t qty
    int64_t avg
    int64_t last_qty
    int64_t last_price
    int64_t price           # 0: none (market)
    # Clock seconds: the in-flight deadline while RF_WATCHED (a live order), the time it became
    # terminal once terminal (one field: an order is never both).
    double at
    int32_t pair            # index into OrderCore._pairs: (sub-account, symbol)
    int32_t origin          # interned string index
    int32_t parent          # interned string index, -1: none
    int32_t tif             # interned string index, -1: none
    int32_t link[12]        # live lists; link[0] chains the free list of unused slots


ctypedef struct Page:
    # PAGE_SIZE records, their Rec lines first, then their Ext parts. A page never moves, so a Rec*
    # stays valid while the tracker grows. Allocated 64 bytes larger and aligned by hand (raw is
    # what PyMem_RawMalloc gave), so that tracemalloc still sees it.
    Rec rec[1024]           # PAGE_SIZE
    Ext ext[1024]
    void* raw


ctypedef struct Snap:
    # A frozen view's own copy of its record.
    Rec rec
    Ext ext


# A bucket is (slot + 1) << 8 | the low 8 bits of the key's 64-bit hash (0: empty); the home
# bucket is (hash >> 32) & mask. Four bytes a bucket, so the two indexes cost 10-20 bytes an order;
# the tag spares the record of every other key on the probe path but one in 256. Slots stay below
# 2**24 - 1 (SLOT_LIMIT). What the bucket does not hold (the home of an entry, when the table is
# rebuilt) is the hash of its record's key, computed again.
ctypedef uint32_t Bucket

cdef enum:
    # A deleted entry: no slot, a tag byte that is not 0 (so not empty). A probe that matches its
    # tag must still check bucket_live(): its slot field is 0.
    HT_TOMB = 0xFF


ctypedef struct HTab:
    # Open addressing, linear probing, deletion by tombstone (HT_TOMB): a backward shift would
    # have to hash again the key of every later entry of the run, a record read each (a cache miss
    # with 100k orders and more), which made evicting 3-4x slower than with the dict it replaced.
    Bucket* b
    uint32_t mask
    uint32_t count          # live entries
    uint32_t tombs          # tombstones; count + tombs stay below limit
    uint32_t limit          # rebuild before count + tombs reach this (load factor 0.8)
    int by_oid              # keyed by Rec.oid, else by Rec.cid
    uint64_t seed           # the core's hash key


ctypedef struct VEnt:
    # OrderCore._vt: slot -> its live OrderState (a borrowed pointer; the view's dealloc removes it)
    int32_t slot            # -1: empty
    PyObject* obj


ctypedef struct StrEnt:
    int32_t refs            # records and pairs using the string; 0: free (head[0] chains the free list)
    int32_t head[3]         # live lists headed by this string, per ROLE_*
    int32_t tail[3]


ctypedef struct PairEnt:
    int32_t sub             # interned string indexes; the pair holds one reference on each
    int32_t sym
    int32_t refs            # records of this pair; 0: free (head chains the free list)
    int32_t head
    int32_t tail


# Hash tables of slot numbers (the keys live in the records).
cdef int ht_init(HTab* t, uint32_t cap) except -1
cdef void ht_free(HTab* t) noexcept
cdef void ht_put(HTab* t, int32_t slot, uint64_t h) noexcept nogil
cdef int ht_reserve(HTab* t, Page** pages, Py_ssize_t need) except -1
cdef void ht_delete_at(HTab* t, uint32_t i) noexcept nogil
cdef int64_t cid_bucket(const HTab* t, Page** pages, const char* k, Py_ssize_t n, uint64_t h) noexcept nogil
cdef int64_t oid_bucket(const HTab* t, Page** pages, int64_t oid, uint64_t h) noexcept nogil


cdef inline int32_t bucket_slot(Bucket e) noexcept nogil:
    return <int32_t>(e >> 8) - 1


cdef inline bint bucket_live(Bucket e) noexcept nogil:
    return e > 0xFF


cdef class OrderCore:
    cdef Page** _pages
    cdef int32_t _npages
    cdef int32_t _pages_cap
    cdef int32_t _hwm               # slots handed out at least once
    cdef int32_t _free              # free slot list head, -1: none
    cdef Py_ssize_t _n_tracked
    cdef Py_ssize_t _n_live
    cdef int32_t _all_head
    cdef int32_t _all_tail
    cdef int32_t _watch_head        # L_WATCH: oldest deadline first
    cdef int32_t _watch_tail
    cdef Py_ssize_t _n_watched
    cdef HTab _by_cid
    cdef HTab _by_oid
    cdef VEnt* _vt                  # live views by slot (open addressing, load <= 0.5)
    cdef uint32_t _vt_mask
    cdef uint32_t _vt_count
    cdef int32_t* _ring             # terminal slots, oldest first (retention FIFO)
    cdef Py_ssize_t _ring_cap       # a power of two
    cdef Py_ssize_t _ring_head
    cdef Py_ssize_t _ring_len
    cdef StrEnt* _strs
    cdef int32_t _strs_cap
    cdef int32_t _strs_used
    cdef int32_t _strs_free
    cdef PairEnt* _pairs
    cdef int32_t _pairs_cap
    cdef int32_t _pairs_used
    cdef int32_t _pairs_free
    cdef dict _str_idx              # interned object -> index
    cdef list _str_obj              # index -> interned object (None when free)
    cdef dict _pair_idx             # (sub << 32) | sym -> pair index
    cdef dict _errors               # slot -> (code, msg)
    cdef double _ttl
    cdef Py_ssize_t _max
    cdef object _clock
    cdef bint _mono                 # the clock is time.monotonic: read it in C
    cdef uint64_t _seed
    cdef int64_t _cnt[12]
    cdef int32_t _last_slot
    cdef object _last_frozen
    cdef int64_t _last_event_time
    cdef bint _ready
    cdef bint _busy                 # a public method is running: a nested call is refused
    cdef double _op_now             # the clock, as _begin() read it for the running call
    cdef bint _now_read             # _op_now was read for the running call
    cdef object _outcome            # feed_call: (callback, order, result, exception) for the shell
    cdef list _sh_table             # set_shell(): what feed_shell() hands feed_call ...
    cdef object _sh_work            # ... (the table, unless this container is not empty),
    cdef int _sh_slow               # ... the slow mask,
    cdef int _sh_post               # ... and which results go on to _sh_after(flags)
    cdef object _sh_after
    # set_dirty_mask/take_dirty: the orders a feed result with a mask bit changed, in marking order.
    # An entry is a slot, or -1 - k for _dirty_gone[k]: the frozen view of one evicted meanwhile.
    cdef int _dirty_mask
    cdef int32_t* _dirty
    cdef Py_ssize_t _dirty_len
    cdef Py_ssize_t _dirty_cap
    cdef list _dirty_gone

    cdef int _enter(self) except -1
    cdef int _begin(self, bint closing) except -1
    cdef double _now(self) except? -1.0
    cdef int _expire(self) except -1
    cdef int _evict(self, int32_t slot) except -1
    cdef int32_t _find_cid(self, const char* cid, Py_ssize_t n) noexcept
    cdef int32_t _find_oid(self, int64_t oid) noexcept
    cdef int32_t _slot_of(self, object key) except -2
    cdef int _set_oid(self, int32_t slot, Rec* r, int64_t oid) except -1
    cdef int _clock_for(self, int32_t slot, const Update* u) except -1
    cdef int _feed_update(self, int result, Update* u) except -1
    cdef int _feed_any(self, object data) except -1
    cdef int _feed_call(self, object data, list table, int slow) except -1
    cdef int _apply(self, int32_t slot, Rec* r, const Update* u) except -1
    cdef int _take(self, int32_t slot, Rec* r, int cell, int flags) except -2
    cdef int _fill(self, Rec* r, Ext* x, int64_t z, const Update* u) except -1
    cdef int _set_state(self, int32_t slot, Rec* r, int new) except -1
    cdef void _link_live(self, int32_t slot) noexcept
    cdef void _unlink_live(self, int32_t slot) noexcept
    cdef void _unwatch(self, int32_t slot, Rec* r) noexcept
    cdef int32_t _alloc_slot(self) except -1
    cdef int _reserve(self) except -1
    cdef int _reserve_feed(self) except -1
    cdef int _mark_dirty(self, int32_t slot, Rec* r) noexcept
    cdef int32_t _intern(self, object obj) except -2
    cdef void _release(self, int32_t idx) noexcept
    cdef int32_t _pair(self, int32_t sub, int32_t sym) except -2
    cdef void _release_pair(self, int32_t idx) noexcept
    cdef object _view(self, int32_t slot)
    cdef int64_t _vt_find(self, int32_t slot) noexcept
    cdef int _vt_put(self, int32_t slot, PyObject* obj) except -1
    cdef void _vt_remove(self, int32_t slot) noexcept
    cdef int _freeze(self, OrderState v) except -1
    cdef list _walk(self, int32_t head, int lst)


cdef class OrderState:
    cdef OrderCore _core            # None once frozen, restored from a copy/pickle, or made by __new__
    cdef int32_t _slot
    cdef uint16_t _gen
    cdef Snap* _snap                # owned copy of the record once frozen
    cdef tuple _strs                # once frozen: (sub, symbol, origin, parent, tif, error)

    cdef const Rec* _rec(self) except NULL
    cdef const Ext* _ext(self) except NULL
    cdef object _str(self, int which)


cdef inline Rec* rec_at(Page** pages, int32_t slot) noexcept nogil:
    return &pages[slot >> PAGE_SHIFT].rec[slot & PAGE_MASK]


cdef inline Ext* ext_at(Page** pages, int32_t slot) noexcept nogil:
    return &pages[slot >> PAGE_SHIFT].ext[slot & PAGE_MASK]


cdef inline bint rec_is_live(const Rec* r) noexcept nogil:
    return S_PLACING <= r.state < S_FIRST_TERMINAL


# Live lists: append at the tail (insertion order, as the pure twin's dicts), unlink in O(1).
cdef inline void list_append(Page** pages, int32_t* head, int32_t* tail, int lst,
                             int32_t slot) noexcept nogil:
    cdef Ext* x = ext_at(pages, slot)
    x.link[2 * lst] = tail[0]
    x.link[2 * lst + 1] = -1
    if tail[0] >= 0:
        ext_at(pages, tail[0]).link[2 * lst + 1] = slot
    else:
        head[0] = slot
    tail[0] = slot


cdef inline void list_remove(Page** pages, int32_t* head, int32_t* tail, int lst,
                             int32_t slot) noexcept nogil:
    cdef Ext* x = ext_at(pages, slot)
    cdef int32_t prev = x.link[2 * lst]
    cdef int32_t nxt = x.link[2 * lst + 1]
    if prev >= 0:
        ext_at(pages, prev).link[2 * lst + 1] = nxt
    else:
        head[0] = nxt
    if nxt >= 0:
        ext_at(pages, nxt).link[2 * lst] = prev
    else:
        tail[0] = prev
    x.link[2 * lst] = -1
    x.link[2 * lst + 1] = -1
