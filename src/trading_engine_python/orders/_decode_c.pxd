# Table of contents of the compiled user-stream frame decoder (_decode_c.pyx).
#
# The order tracker (_core_c.pyx) cimports this: the names and values below are a contract
# shared with the pure twin (_decode_py.py), which defines the same constants as Python ints.
from libc.stdint cimport int64_t

# Anonymous cpdef enums: usable from C, and exported as plain module-level ints.
cpdef enum:
    # Decimals are int64 fixed point with 8 decimals, Binance's precision for qty/price strings.
    FP_SCALE = 100000000
    # newClientOrderId is at most 36 chars (-4015), so a longer id can never be one of ours.
    CID_MAX = 36
    EVENT_TYPE_MAX = 32

cpdef enum:
    # o.X (docs/binance-protocol.md, "Order update event"); ST_OTHER = any other string (NEW_INSURANCE...).
    ST_NONE = 0
    ST_NEW = 1
    ST_PARTIALLY_FILLED = 2
    ST_FILLED = 3
    ST_CANCELED = 4
    ST_EXPIRED = 5
    ST_EXPIRED_IN_MATCH = 6
    ST_REJECTED = 7
    ST_OTHER = 8
    # ALGO_UPDATE's own X values (docs/binance-protocol.md, "Algo orders").
    ST_TRIGGERING = 9
    ST_TRIGGERED = 10
    ST_FINISHED = 11

cpdef enum:
    # What decode_frame returns.
    R_ORDER = 0
    R_OTHER_EVENT = 1
    R_MALFORMED = 2

cpdef enum:
    # Update.reason when the result is R_MALFORMED.
    M_JSON = 1
    M_NOT_OBJECT = 2
    M_NO_EVENT = 3
    M_TYPE = 4
    M_MISSING = 5
    M_RANGE = 6
    M_DECIMALS = 7
    M_DECIMAL_SYNTAX = 8

cpdef enum:
    # Update.present: one bit per optional field.
    P_ORDER_ID = 0x001
    P_TRADE_ID = 0x002
    P_EVENT_TIME = 0x004
    P_TRADE_TIME = 0x008
    P_Z = 0x010
    P_L = 0x020
    P_LP = 0x040
    P_AP = 0x080
    P_Q = 0x100
    P_P = 0x200
    P_ALGO_ID = 0x400           # o.aid of an ALGO_UPDATE
    P_ALGO = 0x800              # the frame is an ALGO_UPDATE (cid = o.caid, order_id = o.ai, z = o.aq)
    P_AMENDED = 0x1000          # o.x is "AMENDMENT" (no value: a flag)


cdef struct Update:
    int status                  # ST_* (o.X)
    char cid[36]                # o.c, decoded UTF-8, not NUL-terminated
    int cid_len                 # -1: longer than 36 bytes (never ours; not malformed)
    int64_t order_id            # o.i
    int64_t trade_id            # o.t
    int64_t event_time          # envelope E
    int64_t trade_time          # o.T
    int64_t z                   # cumulative filled qty, fixed point
    int64_t l                   # last filled qty
    int64_t L                   # last filled price
    int64_t ap                  # average price, rounded half-even to 8 decimals
    int64_t q                   # original qty
    int64_t p                   # original price
    int64_t algo_id             # o.aid (ALGO_UPDATE)
    unsigned int present        # P_* bits of the optional fields above that were present
    char event_type[32]         # envelope e (whenever it is a string), cut at a UTF-8 boundary
    int event_type_len
    int reason                  # M_* when R_MALFORMED, else 0


# Decode one frame into *out (zeroed first); returns R_ORDER, R_OTHER_EVENT or R_MALFORMED.
# Accepts exactly what orjson.loads accepts as JSON; never reads outside buf[0:n].
cdef int decode_frame(const unsigned char* buf, Py_ssize_t n, Update* out) noexcept nogil

# A look-ahead for the caller while the scan goes on (a hint only: the result decides). Called
# with step 0 and o.c's bytes (decoded) as soon as they are read, and with step 1 (cid NULL) when
# o.L's key is reached after them, some 230 bytes further in Binance's key order (about half the
# frame left to scan): the order tracker starts loading its index entry at step 0 and the record
# the entry names at step 1.
ctypedef void (*cid_hint_fn)(void* ctx, const char* cid, Py_ssize_t n, int step) noexcept nogil
cdef int decode_frame_hinted(const unsigned char* buf, Py_ssize_t n, Update* out, cid_hint_fn hint,
                             void* ctx) noexcept nogil

# The Python-level view of a decoded frame (the same dict as decode() returns).
cdef dict update_as_dict(int result, const Update* u)


cdef inline bint update_has(const Update* u, unsigned int bit) noexcept nogil:
    return (u.present & bit) != 0
