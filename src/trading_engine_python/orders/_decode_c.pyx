# cython: language_level=3
"""Compiled user-stream frame decoder: one forward scan of an ORDER_TRADE_UPDATE or ALGO_UPDATE frame
into an Update.

The pure twin ``_decode_py`` is the reference (``decode_dict(orjson.loads(frame))``): this module must
return what it returns for every input, and the tests compare the two on fuzzed bytes.

How the scan stays equal to "orjson.loads, then read the dict":

- Every byte is validated as orjson would (RFC 8259 strict, UTF-8 per Unicode table 3-7, escapes,
  surrogate pairs, nesting <= 1024, numbers that would overflow a double), including the values we
  skip. A document orjson rejects is M_JSON whatever else is wrong with it, so a field error is only
  recorded while scanning and reported once the whole document has been seen.
- Duplicate keys: the last one wins (dict semantics). Each occurrence of a field overwrites that
  field's value *and* its error; a later "o" resets every order field.
- The fields' errors are reported in the pure twin's order (e, E, o, c, X, i, t, T, z, l, L, ap, q, p;
  for an ALGO_UPDATE e, E, o, caid, X, aid, ai, aq, ap, q, p). Both events' keys are scanned into
  their own slots, since "e" may come after "o"; the end keeps the slots of the event it is.
- JSON null is "absent", for required fields too.
- orjson gives an int for an integer in [-2**63, 2**64-1] and a float outside, so an id outside that
  range is a type error, not a range error; "-0" is the int 0.
"""

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object s, Py_ssize_t* size) except NULL


cdef extern from *:
    """
    /* (2**54 - 1) * 2**970, the midpoint between DBL_MAX and 2**1024: a correctly rounded
       (ties-to-even) parser makes infinity of any decimal >= this, and orjson rejects those
       ("number is infinity when parsed as double"). Its leading digit is at 10**308. */
    static const char TE_DBL_OVERFLOW_DIGITS[] =
        "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649"
        "017977587207096330286416692887910946555547851940402630657488671505820681908902000708383"
        "676273854845817711531764475730270069855571366959622842914819860834936475292719074168444"
        "365510704342711559699508093042880177904174497792";
    /* Skip 8 string bytes at a time while none is '"', '\\', a control char or >= 0x80: the
       lowest flagged byte of these has-byte tests is exact (borrows only flag higher bytes). */
    static inline const unsigned char* te_plain8(const unsigned char* p, const unsigned char* end) {
    #if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
        while (end - p >= 8) {
            uint64_t x, q, b, m;
            memcpy(&x, p, 8);
            q = x ^ (ones * 0x22);
            b = x ^ (ones * 0x5C);
            m = (((q - ones) & ~q) | ((b - ones) & ~b) | (x - ones * 0x20) | x) & high;
            if (m)
                return p + (__builtin_ctzll(m) >> 3);
            p += 8;
        }
    #endif
        return p;
    }
    /* A dict presized for the 15 keys of an R_ORDER result (no resize while filling it), with
       the private constructor where it is still public (Cython uses it the same way). */
    #if PY_VERSION_HEX < 0x030d0000
    #define te_dict_presized(n) _PyDict_NewPresized(n)
    #else
    #define te_dict_presized(n) PyDict_New()
    #endif
    #define TE_INT64_MAX ((int64_t)9223372036854775807LL)
    #define TE_U64_MAX_DIV10 1844674407370955161ULL
    #define TE_I64_MAX_DIV10 922337203685477580ULL
    #define TE_I64_MIN_MAG 9223372036854775808ULL
    """
    const char* TE_DBL_OVERFLOW_DIGITS
    const unsigned char* te_plain8(const unsigned char* p, const unsigned char* end) noexcept nogil
    dict te_dict_presized(Py_ssize_t n)
    const int64_t _INT64_MAX "TE_INT64_MAX"
    const uint64_t _U64_MAX_DIV10 "TE_U64_MAX_DIV10"
    const uint64_t _I64_MAX_DIV10 "TE_I64_MAX_DIV10"
    const uint64_t _I64_MIN_MAG "TE_I64_MIN_MAG"


cdef enum:
    _MAX_DEPTH = 1024            # orjson: 1024 nested containers accepted, 1025 rejected
    _DBL_OVERFLOW_E10 = 308
    _DBL_OVERFLOW_NDIGITS = 309
    _STATUS_BUF = 16             # longest known status: PARTIALLY_FILLED / EXPIRED_IN_MATCH
    _KEY_BUF = 4                 # longest key we dispatch on: "ap"

cdef enum:
    # Slots of _State.err, in the order errors are reported.
    _F_C = 0
    _F_X = 1
    _F_I = 2
    _F_T = 3
    _F_TT = 4
    _F_Z = 5
    _F_L = 6
    _F_LP = 7
    _F_AP = 8
    _F_Q = 9
    _F_P = 10
    _F_CAID = 11
    _F_AID = 12
    _F_AI = 13
    _F_AQ = 14
    _NF_ORDER = 15
    _F_E = 15
    _NF = 16

cdef enum:
    _ORDER_BITS = (P_ORDER_ID | P_TRADE_ID | P_TRADE_TIME | P_Z | P_L | P_LP | P_AP | P_Q | P_P | P_ALGO_ID
                   | P_AMENDED)
    # The fields an ALGO_UPDATE keeps from the shared slots.
    _ALGO_KEEP = P_EVENT_TIME | P_AP | P_Q | P_P | P_ALGO_ID
    # _State.apresent bits: o.ai and o.aq seen with a value
    _A_AI = 1
    _A_AQ = 2

cdef enum:
    _QUOTE = 34
    _BSLASH = 92

cdef int64_t _POW10[9]

# Byte classes, filled once at import.
cdef unsigned char _PLAIN[256]   # 1: a string byte that stands for itself (0x20..0x7F but " and \)
cdef unsigned char _HEXV[256]    # value of a hex digit, 0xFF otherwise
cdef unsigned char _ESCV[256]    # the byte a one-letter escape stands for, 0: not an escape letter

cdef int _i
for _i in range(256):
    _PLAIN[_i] = 1 if (0x20 <= _i < 0x80 and _i != _QUOTE and _i != _BSLASH) else 0
    _HEXV[_i] = 0xFF
    _ESCV[_i] = 0
for _i in range(10):
    _HEXV[48 + _i] = _i
for _i in range(6):
    _HEXV[65 + _i] = 10 + _i
    _HEXV[97 + _i] = 10 + _i
_ESCV[34] = 34
_ESCV[92] = 92
_ESCV[47] = 47
_ESCV[98] = 8
_ESCV[102] = 12
_ESCV[110] = 10
_ESCV[114] = 13
_ESCV[116] = 9
_POW10[0] = 1
for _i in range(1, 9):
    _POW10[_i] = _POW10[_i - 1] * 10


cdef struct _Num:
    uint64_t mag
    bint neg
    bint is_int                  # orjson would return an int (else a float)


cdef struct _State:
    int e_state                  # 0 absent (or null), 1 string, 2 another type
    bint otu                     # e == "ORDER_TRADE_UPDATE"
    bint algo                    # e == "ALGO_UPDATE"
    int o_state                  # 0 absent (or null), 1 object, 2 another type
    bint o_seen                  # an "o" key was seen (a later one must reset the order fields)
    bint have_c
    bint have_x
    bint have_caid
    int acid_len                 # o.caid as Update.cid_len counts it
    char acid[36]
    int64_t ai                   # o.ai, the created order's id (ALGO_UPDATE)
    int64_t aq                   # o.aq, its executed quantity
    unsigned int apresent        # _A_* bits
    unsigned char err[16]        # M_* per field slot (_F_*), 0 = no error
    cid_hint_fn hint             # decode_frame_hinted's look-ahead, NULL: none
    void* hctx


# ---------------------------------------------------------------------------------------------
# JSON lexing: every function gets the end pointer and returns NULL on anything orjson rejects.
# ---------------------------------------------------------------------------------------------

cdef const unsigned char* _ws_run(const unsigned char* p, const unsigned char* end) noexcept nogil:
    while p < end and (p[0] == 0x20 or p[0] == 0x0A or p[0] == 0x0D or p[0] == 0x09):
        p += 1
    return p


cdef inline const unsigned char* _ws(const unsigned char* p, const unsigned char* end) noexcept nogil:
    # Binance sends compact JSON: one compare decides the usual case (no white space is > 0x20).
    if p < end and p[0] > 0x20:
        return p
    return _ws_run(p, end)


cdef inline int _hex4(const unsigned char* p, const unsigned char* end) noexcept nogil:
    cdef unsigned int a, b, c, d
    if end - p < 4:
        return -1
    a = _HEXV[p[0]]
    b = _HEXV[p[1]]
    c = _HEXV[p[2]]
    d = _HEXV[p[3]]
    if (a | b | c | d) & 0xF0:
        return -1
    return <int>((a << 12) | (b << 8) | (c << 4) | d)


cdef const unsigned char* _escape(const unsigned char* p, const unsigned char* end,
                                  uint32_t* cp) noexcept nogil:
    # p: just after the backslash. Surrogates as orjson: a high one must be followed at once by
    # an escaped low one; a lone low one is an error.
    cdef int hi, lo
    if p >= end:
        return NULL
    if p[0] != c'u':
        if _ESCV[p[0]] == 0:
            return NULL
        cp[0] = _ESCV[p[0]]
        return p + 1
    hi = _hex4(p + 1, end)
    if hi < 0:
        return NULL
    p += 5
    if hi < 0xD800 or hi > 0xDFFF:
        cp[0] = <uint32_t>hi
        return p
    if hi > 0xDBFF:
        return NULL
    if end - p < 6 or p[0] != _BSLASH or p[1] != c'u':
        return NULL
    lo = _hex4(p + 2, end)
    if lo < 0xDC00 or lo > 0xDFFF:
        return NULL
    cp[0] = <uint32_t>(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
    return p + 6


cdef inline const unsigned char* _utf8(const unsigned char* p, const unsigned char* end) noexcept nogil:
    # p at a byte >= 0x80: one well-formed sequence (Unicode table 3-7: no overlongs, no
    # surrogates, nothing above U+10FFFF).
    cdef unsigned char c = p[0]
    cdef unsigned char lo = 0x80
    cdef unsigned char hi = 0xBF
    cdef Py_ssize_t n = end - p
    if c < 0xC2:
        return NULL
    if c < 0xE0:
        if n < 2 or (p[1] & 0xC0) != 0x80:
            return NULL
        return p + 2
    if c < 0xF0:
        if c == 0xE0:
            lo = 0xA0
        elif c == 0xED:
            hi = 0x9F
        if n < 3 or p[1] < lo or p[1] > hi or (p[2] & 0xC0) != 0x80:
            return NULL
        return p + 3
    if c < 0xF5:
        if c == 0xF0:
            lo = 0x90
        elif c == 0xF4:
            hi = 0x8F
        if n < 4 or p[1] < lo or p[1] > hi or (p[2] & 0xC0) != 0x80 or (p[3] & 0xC0) != 0x80:
            return NULL
        return p + 4
    return NULL


cdef const unsigned char* _string_rest(const unsigned char* p, const unsigned char* end,
                                       bint* esc) noexcept nogil:
    # The general case of _string, from the first byte that is not plain ASCII.
    cdef unsigned char c
    cdef uint32_t cp
    while True:
        p = te_plain8(p, end)
        while p < end and _PLAIN[p[0]]:
            p += 1
        if p >= end:
            return NULL
        c = p[0]
        if c == _QUOTE:
            return p + 1
        if c == _BSLASH:
            esc[0] = True
            p = _escape(p + 1, end, &cp)
        elif c >= 0x80:
            p = _utf8(p, end)
        else:
            return NULL         # raw control character
        if p == NULL:
            return NULL


cdef inline const unsigned char* _string(const unsigned char* p, const unsigned char* end,
                                         bint* esc) noexcept nogil:
    # p: just after the opening quote. Returns just after the closing quote, NULL if orjson would
    # reject the string; *esc set if the body has escapes (its decoded value differs from its bytes).
    if end - p >= 2 and p[1] == _QUOTE and _PLAIN[p[0]]:
        return p + 2            # one character: most keys
    p = te_plain8(p, end)
    while p < end and _PLAIN[p[0]]:
        p += 1
    if p < end and p[0] == _QUOTE:
        return p + 1
    return _string_rest(p, end, esc)


cdef Py_ssize_t _unescape(const unsigned char* p, const unsigned char* stop,
                          unsigned char* buf, Py_ssize_t cap) noexcept nogil:
    # Decoded UTF-8 length of a validated string body p..stop; writes its first cap bytes to buf.
    cdef Py_ssize_t n = 0
    cdef uint32_t cp
    cdef unsigned char u[4]
    cdef int k, m
    while p < stop:
        if p[0] != _BSLASH:
            if n < cap:
                buf[n] = p[0]
            n += 1
            p += 1
            continue
        p = _escape(p + 1, stop, &cp)
        if p == NULL:
            return -1
        if cp < 0x80:
            u[0] = <unsigned char>cp
            m = 1
        elif cp < 0x800:
            u[0] = <unsigned char>(0xC0 | (cp >> 6))
            u[1] = <unsigned char>(0x80 | (cp & 0x3F))
            m = 2
        elif cp < 0x10000:
            u[0] = <unsigned char>(0xE0 | (cp >> 12))
            u[1] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
            u[2] = <unsigned char>(0x80 | (cp & 0x3F))
            m = 3
        else:
            u[0] = <unsigned char>(0xF0 | (cp >> 18))
            u[1] = <unsigned char>(0x80 | ((cp >> 12) & 0x3F))
            u[2] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
            u[3] = <unsigned char>(0x80 | (cp & 0x3F))
            m = 4
        for k in range(m):
            if n < cap:
                buf[n] = u[k]
            n += 1
    return n


cdef bint _reaches_inf(const unsigned char* p, const unsigned char* stop) noexcept nogil:
    # p..stop: a number whose leading significant digit is at 10**308. True if it is >= the
    # midpoint above DBL_MAX (equal rounds to even, which is 2**1024, i.e. infinity).
    cdef int j = 0
    cdef unsigned char c
    cdef bint started = False
    while p < stop:
        c = p[0]
        p += 1
        if c == c'-' or c == c'.':
            continue
        if c == c'e' or c == c'E':
            break
        if not started:
            if c == c'0':
                continue
            started = True
        if j == _DBL_OVERFLOW_NDIGITS:
            return True
        if c != <unsigned char>TE_DBL_OVERFLOW_DIGITS[j]:
            return c > <unsigned char>TE_DBL_OVERFLOW_DIGITS[j]
        j += 1
    return j == _DBL_OVERFLOW_NDIGITS


cdef const unsigned char* _number(const unsigned char* p, const unsigned char* end,
                                  _Num* num) noexcept nogil:
    # p at '-' or a digit. JSON number grammar, then orjson's typing: an integer in
    # [-2**63, 2**64-1] is an int, anything else a double, rejected if it overflows to infinity.
    cdef const unsigned char* start = p
    cdef const unsigned char* lim
    cdef const unsigned char* digits
    cdef uint64_t mag = 0
    cdef unsigned int d
    cdef bint ovf = False
    cdef bint is_float = False
    cdef bint int_zero = False
    cdef bint frac_nz = False
    cdef bint eneg = False
    cdef int64_t nint = 0
    cdef int64_t lead_zeros = 0
    cdef int64_t ex = 0
    cdef int64_t e10
    num.neg = False
    num.is_int = False
    num.mag = 0
    if p[0] == c'-':
        num.neg = True
        p += 1
        if p >= end:
            return NULL
    d = p[0] - 48
    if d > 9:
        return NULL
    if d == 0:
        int_zero = True
        nint = 1
        p += 1
        if p < end and <unsigned int>(p[0] - 48) <= 9:
            return NULL         # leading zero
    else:
        # 19 digits cannot overflow a uint64: test only beyond
        lim = p + 19 if end - p > 19 else end
        digits = p
        while p < lim:
            d = p[0] - 48
            if d > 9:
                break
            mag = mag * 10 + d
            p += 1
        nint = p - digits
        while p < end:
            d = p[0] - 48
            if d > 9:
                break
            if mag < _U64_MAX_DIV10 or (mag == _U64_MAX_DIV10 and d <= 5):
                mag = mag * 10 + d
            else:
                ovf = True
            nint += 1
            p += 1
    if p < end and p[0] == c'.':
        is_float = True
        p += 1
        if p >= end or <unsigned int>(p[0] - 48) > 9:
            return NULL
        while p < end and <unsigned int>(p[0] - 48) <= 9:
            if p[0] != c'0':
                frac_nz = True
            elif not frac_nz:
                lead_zeros += 1
            p += 1
    if p < end and (p[0] == c'e' or p[0] == c'E'):
        is_float = True
        p += 1
        if p < end and (p[0] == c'+' or p[0] == c'-'):
            eneg = p[0] == c'-'
            p += 1
        if p >= end or <unsigned int>(p[0] - 48) > 9:
            return NULL
        while p < end and <unsigned int>(p[0] - 48) <= 9:
            if ex < 1000000000:         # saturate: anything this large is 0 or infinity anyway
                ex = ex * 10 + (p[0] - 48)
            p += 1
        if eneg:
            ex = -ex
    if not is_float:
        if not ovf and (not num.neg or mag <= _I64_MIN_MAG):
            num.is_int = True
            num.mag = mag
            return p
        e10 = nint - 1              # an integer orjson turns into a double
    elif not int_zero:
        e10 = nint - 1 + ex
    elif frac_nz:
        e10 = ex - lead_zeros - 1
    else:
        return p                    # zero, whatever the exponent
    if e10 > _DBL_OVERFLOW_E10:
        return NULL
    if e10 == _DBL_OVERFLOW_E10 and _reaches_inf(start, p):
        return NULL
    return p


cdef inline const unsigned char* _literal(const unsigned char* p, const unsigned char* end) noexcept nogil:
    cdef Py_ssize_t n = end - p
    cdef unsigned char c = p[0]
    if c == c't':
        if n >= 4 and p[1] == c'r' and p[2] == c'u' and p[3] == c'e':
            return p + 4
    elif c == c'f':
        if n >= 5 and p[1] == c'a' and p[2] == c'l' and p[3] == c's' and p[4] == c'e':
            return p + 5
    elif c == c'n':
        if n >= 4 and p[1] == c'u' and p[2] == c'l' and p[3] == c'l':
            return p + 4
    return NULL


cdef inline const unsigned char* _colon(const unsigned char* p, const unsigned char* end) noexcept nogil:
    # After a key: white space, ':', white space; returns the value's first byte (p < end).
    p = _ws(p, end)
    if p >= end or p[0] != c':':
        return NULL
    p = _ws(p + 1, end)
    if p >= end:
        return NULL
    return p


cdef inline const unsigned char* _short_key(const unsigned char* p, const unsigned char* end,
                                            Py_ssize_t* klen) noexcept nogil:
    # p at a key's opening quote. Binance's keys are one or two ASCII letters written compactly
    # ("k": with nothing between): read such a key and its colon in one look; returns just after the
    # colon, NULL when the key is anything else (the general path then reads it, errors included).
    if end - p < 5 or not _PLAIN[p[1]]:
        return NULL
    if p[2] == _QUOTE:
        if p[3] == c':':
            klen[0] = 1
            return p + 4
        return NULL
    if _PLAIN[p[2]] and p[3] == _QUOTE and p[4] == c':':
        klen[0] = 2
        return p + 5
    return NULL


cdef const unsigned char* _skip(const unsigned char* p, const unsigned char* end, int depth) noexcept nogil:
    # Validate and skip one value starting at p (p < end, not white space). depth: containers
    # already open around it. Iterative, so any nesting costs no C stack.
    cdef unsigned char is_obj[_MAX_DEPTH]
    cdef int top = 0
    cdef unsigned char c
    cdef bint esc
    cdef _Num num
    while True:
        c = p[0]
        if c == c'{' or c == c'[':
            if depth + top >= _MAX_DEPTH:
                return NULL
            is_obj[top] = c == c'{'
            top += 1
            p = _ws(p + 1, end)
            if p >= end:
                return NULL
            if p[0] == c + 2:       # '}' is '{' + 2, ']' is '[' + 2
                p += 1
                top -= 1
            elif c == c'{':
                if p[0] != _QUOTE:
                    return NULL
                p = _string(p + 1, end, &esc)
                if p == NULL:
                    return NULL
                p = _colon(p, end)
                if p == NULL:
                    return NULL
                continue
            else:
                continue
        elif c == _QUOTE:
            p = _string(p + 1, end, &esc)
        elif c == c'-' or <unsigned int>(c - 48) <= 9:
            p = _number(p, end, &num)
        else:
            p = _literal(p, end)
        if p == NULL:
            return NULL
        # After a value: close containers until one has a next member.
        while True:
            if top == 0:
                return p
            p = _ws(p, end)
            if p >= end:
                return NULL
            c = p[0]
            if c == c',':
                p = _ws(p + 1, end)
                if p >= end:
                    return NULL
                if is_obj[top - 1]:
                    if p[0] != _QUOTE:
                        return NULL
                    p = _string(p + 1, end, &esc)
                    if p == NULL:
                        return NULL
                    p = _colon(p, end)
                    if p == NULL:
                        return NULL
                break
            if c == (c'}' if is_obj[top - 1] else c']'):
                p += 1
                top -= 1
                continue
            return NULL


cdef inline const unsigned char* _skip_any(const unsigned char* p, const unsigned char* end,
                                           int depth) noexcept nogil:
    # _skip without its set-up for the scalars that most unknown keys hold.
    cdef bint esc
    cdef _Num num
    cdef unsigned char c = p[0]
    if c == _QUOTE:
        return _string(p + 1, end, &esc)
    if c == c't' or c == c'f' or c == c'n':
        return _literal(p, end)
    if <unsigned int>(c - 48) <= 9:
        return _number(p, end, &num)
    return _skip(p, end, depth)


# ---------------------------------------------------------------------------------------------
# Field values
# ---------------------------------------------------------------------------------------------

cdef int _decimal(const unsigned char* p, const unsigned char* stop, bint half_even,
                  int64_t* out) noexcept nogil:
    # A validated string body p..stop as fixed point 1e8: 0, or the M_* reason it is refused.
    # Syntax first, then extra decimals, then range: the pure twin's order.
    cdef uint64_t v = 0
    cdef uint64_t scale
    cdef int phase = 0          # 0 want an integer digit, 1 in them, 2 want a decimal, 3 in them
    cdef int nfrac = 0
    cdef int first_extra = -1   # the 9th decimal
    cdef bint extra_nz = False  # a non-zero digit after the 8th decimal
    cdef bint sticky = False    # a non-zero digit after the 9th decimal
    cdef bint ovf = False
    cdef unsigned int c, d
    cdef uint32_t cp
    while p < stop:
        c = p[0]
        if c == _BSLASH:
            p = _escape(p + 1, stop, &cp)
            if p == NULL:
                return M_DECIMAL_SYNTAX
            c = cp if cp < 0x80 else 0xFF
        else:
            p += 1
        d = c - 48
        if d <= 9:
            if phase <= 1:
                phase = 1
            elif nfrac < 8:
                phase = 3
                nfrac += 1
            else:
                phase = 3
                if d != 0:
                    extra_nz = True
                if first_extra < 0:
                    first_extra = <int>d
                elif d != 0:
                    sticky = True
                continue
            if v < _I64_MAX_DIV10 or (v == _I64_MAX_DIV10 and d <= 7):
                v = v * 10 + d
            else:
                ovf = True
        elif c == c'.' and phase == 1:
            phase = 2
        else:
            return M_DECIMAL_SYNTAX
    if phase != 1 and phase != 3:
        return M_DECIMAL_SYNTAX
    if extra_nz and not half_even:
        return M_DECIMALS
    if ovf:
        return M_RANGE
    scale = <uint64_t>_POW10[8 - nfrac]
    if v > <uint64_t>_INT64_MAX / scale:
        return M_RANGE
    v *= scale
    if first_extra > 5 or (first_extra == 5 and (sticky or (v & 1))):
        # only reachable for half_even: without it a non-zero extra digit returned M_DECIMALS
        if v >= <uint64_t>_INT64_MAX:
            return M_RANGE
        v += 1
    out[0] = <int64_t>v
    return 0


cdef inline int _status(const unsigned char* s, Py_ssize_t n) noexcept nogil:
    if n == 3:
        if memcmp(s, b"NEW", 3) == 0:
            return ST_NEW
    elif n == 6:
        if memcmp(s, b"FILLED", 6) == 0:
            return ST_FILLED
    elif n == 8:
        if memcmp(s, b"CANCELED", 8) == 0:
            return ST_CANCELED
        if memcmp(s, b"FINISHED", 8) == 0:
            return ST_FINISHED
        if memcmp(s, b"REJECTED", 8) == 0:
            return ST_REJECTED
    elif n == 7:
        if memcmp(s, b"EXPIRED", 7) == 0:
            return ST_EXPIRED
    elif n == 9:
        if memcmp(s, b"TRIGGERED", 9) == 0:
            return ST_TRIGGERED
    elif n == 10:
        if memcmp(s, b"TRIGGERING", 10) == 0:
            return ST_TRIGGERING

    elif n == 16:
        if memcmp(s, b"PARTIALLY_FILLED", 16) == 0:
            return ST_PARTIALLY_FILLED
        if memcmp(s, b"EXPIRED_IN_MATCH", 16) == 0:
            return ST_EXPIRED_IN_MATCH
    return ST_OTHER


cdef inline int _utf8_cut(const char* s, int n) noexcept nogil:
    # s holds the first n bytes of a longer valid UTF-8 string: the longest prefix that ends on a
    # character boundary.
    cdef int k = n - 1
    cdef unsigned char lead
    cdef int width
    while k > 0 and (<unsigned char>s[k] & 0xC0) == 0x80:
        k -= 1
    lead = <unsigned char>s[k]
    if lead < 0x80:
        width = 1
    elif lead < 0xE0:
        width = 2
    elif lead < 0xF0:
        width = 3
    else:
        width = 4
    return n if k + width <= n else k


cdef inline bint _is_null(const unsigned char* p, const unsigned char* end) noexcept nogil:
    return end - p >= 4 and p[0] == c'n' and p[1] == c'u' and p[2] == c'l' and p[3] == c'l'


cdef const unsigned char* _int_value(const unsigned char* p, const unsigned char* end, int depth,
                                     _State* st, int f, int64_t* dst, unsigned int* present,
                                     unsigned int bit) noexcept nogil:
    cdef _Num num
    cdef int err
    cdef unsigned char c = p[0]
    present[0] &= ~bit
    dst[0] = 0
    if c == c'-' or <unsigned int>(c - 48) <= 9:
        p = _number(p, end, &num)
        if p == NULL:
            return NULL
        if not num.is_int:
            err = M_TYPE
        elif num.neg and num.mag != 0:
            err = M_RANGE
        elif num.mag > <uint64_t>_INT64_MAX:
            err = M_RANGE
        else:
            dst[0] = <int64_t>num.mag
            present[0] |= bit
            err = 0
        st.err[f] = err
        return p
    if _is_null(p, end):
        st.err[f] = 0
        return p + 4
    st.err[f] = M_TYPE
    return _skip(p, end, depth)


cdef inline const unsigned char* _plain_decimal(const unsigned char* p, const unsigned char* end,
                                                int64_t* dst) noexcept nogil:
    # The common case in one pass: p just after the quote, at most 11 integer digits (so no
    # overflow before scaling), at most 8 decimals, closing quote. NULL: use the general path.
    cdef uint64_t v = 0
    cdef unsigned int d
    cdef int nd = 0
    cdef int nf = 0
    while p < end:
        d = p[0] - 48
        if d > 9:
            break
        v = v * 10 + d
        nd += 1
        p += 1
    if nd == 0 or nd > 11 or p >= end:
        return NULL
    if p[0] == c'.':
        p += 1
        while p < end and nf < 8:
            d = p[0] - 48
            if d > 9:
                break
            v = v * 10 + d
            nf += 1
            p += 1
        if nf == 0 or p >= end:
            return NULL
    if p[0] != _QUOTE:
        return NULL
    v *= <uint64_t>_POW10[8 - nf]
    if v > <uint64_t>_INT64_MAX:
        return NULL
    dst[0] = <int64_t>v
    return p + 1


cdef const unsigned char* _decimal_value(const unsigned char* p, const unsigned char* end,
                                         _State* st, int f, int64_t* dst, unsigned int* present,
                                         unsigned int bit, bint half_even) noexcept nogil:
    cdef const unsigned char* body
    cdef const unsigned char* q
    cdef bint esc = False
    cdef int err
    present[0] &= ~bit
    dst[0] = 0
    if p[0] == _QUOTE:
        q = _plain_decimal(p + 1, end, dst)
        if q != NULL:
            present[0] |= bit
            st.err[f] = 0
            return q
        body = p + 1
        p = _string(body, end, &esc)
        if p == NULL:
            return NULL
        err = _decimal(body, p - 1, half_even, dst)
        if err == 0:
            present[0] |= bit
        else:
            dst[0] = 0
        st.err[f] = err
        return p
    if _is_null(p, end):
        st.err[f] = 0
        return p + 4
    st.err[f] = M_TYPE
    return _skip(p, end, 2)


cdef const unsigned char* _id_value(const unsigned char* p, const unsigned char* end, _State* st, int f,
                                    char* buf, int* length, bint* have) noexcept nogil:
    # A client order id (o.c, or o.caid of an ALGO_UPDATE) into buf: its decoded length, -1 when
    # longer than CID_MAX (never ours; not malformed); null is no id; another type is st.err[f].
    cdef const unsigned char* body
    cdef bint esc = False
    cdef Py_ssize_t m
    have[0] = False
    length[0] = 0
    if p[0] == _QUOTE:
        body = p + 1
        p = _string(body, end, &esc)
        if p == NULL:
            return NULL
        if esc:
            m = _unescape(body, p - 1, <unsigned char*>buf, CID_MAX)
        else:
            m = p - 1 - body
            if m <= CID_MAX:
                memcpy(buf, body, m)
        length[0] = <int>m if m <= CID_MAX else -1
        have[0] = True
        st.err[f] = 0
        return p
    if _is_null(p, end):
        st.err[f] = 0
        return p + 4
    st.err[f] = M_TYPE
    return _skip(p, end, 2)


cdef inline const unsigned char* _cid_value(const unsigned char* p, const unsigned char* end,
                                            Update* out, _State* st) noexcept nogil:
    p = _id_value(p, end, st, _F_C, out.cid, &out.cid_len, &st.have_c)
    if st.have_c and st.hint != NULL and out.cid_len >= 0:
        st.hint(st.hctx, out.cid, out.cid_len, 0)
    return p


cdef inline const unsigned char* _caid_value(const unsigned char* p, const unsigned char* end,
                                             _State* st) noexcept nogil:
    return _id_value(p, end, st, _F_CAID, st.acid, &st.acid_len, &st.have_caid)


cdef int _digits(const unsigned char* p, const unsigned char* stop, int64_t* out) noexcept nogil:
    # A validated string body of ASCII digits (o.ai) as an int64: 0, or the M_* reason it is
    # refused (syntax before range, as the pure twin). The caller handles the empty string.
    cdef uint64_t v = 0
    cdef bint ovf = False
    cdef unsigned int c, d
    cdef uint32_t cp
    while p < stop:
        c = p[0]
        if c == _BSLASH:
            p = _escape(p + 1, stop, &cp)
            if p == NULL:
                return M_DECIMAL_SYNTAX
            c = cp if cp < 0x80 else 0xFF
        else:
            p += 1
        d = c - 48
        if d > 9:
            return M_DECIMAL_SYNTAX
        if v < _I64_MAX_DIV10 or (v == _I64_MAX_DIV10 and d <= 7):
            v = v * 10 + d
        else:
            ovf = True
    if ovf:
        return M_RANGE
    out[0] = <int64_t>v
    return 0


cdef const unsigned char* _ai_value(const unsigned char* p, const unsigned char* end,
                                    _State* st) noexcept nogil:
    # o.ai: the created order's id as a string of digits, "" before the trigger (absent).
    cdef const unsigned char* body
    cdef bint esc = False
    cdef int err = 0
    st.apresent &= ~(<unsigned int>_A_AI)
    st.ai = 0
    if p[0] == _QUOTE:
        body = p + 1
        p = _string(body, end, &esc)
        if p == NULL:
            return NULL
        if p - 1 > body:
            err = _digits(body, p - 1, &st.ai)
            if err == 0:
                st.apresent |= _A_AI
            else:
                st.ai = 0
        st.err[_F_AI] = err
        return p
    if _is_null(p, end):
        st.err[_F_AI] = 0
        return p + 4
    st.err[_F_AI] = M_TYPE
    return _skip(p, end, 2)


cdef const unsigned char* _status_value(const unsigned char* p, const unsigned char* end,
                                        Update* out, _State* st) noexcept nogil:
    cdef const unsigned char* body
    cdef bint esc = False
    cdef Py_ssize_t m
    cdef unsigned char buf[_STATUS_BUF]
    st.have_x = False
    out.status = ST_NONE
    if p[0] == _QUOTE:
        body = p + 1
        p = _string(body, end, &esc)
        if p == NULL:
            return NULL
        if esc:
            m = _unescape(body, p - 1, buf, _STATUS_BUF)
            out.status = _status(buf, m) if m <= _STATUS_BUF else ST_OTHER
        else:
            out.status = _status(body, p - 1 - body)
        st.have_x = True
        st.err[_F_X] = 0
        return p
    if _is_null(p, end):
        st.err[_F_X] = 0
        return p + 4
    st.err[_F_X] = M_TYPE
    return _skip(p, end, 2)


cdef const unsigned char* _exec_type_value(const unsigned char* p, const unsigned char* end,
                                           Update* out) noexcept nogil:
    # o.x: only "AMENDMENT" matters (docs/binance-protocol.md, "Amend in place"); any other value, of
    # any type, clears the flag (last key wins) and is never an error.
    cdef const unsigned char* body
    cdef bint esc = False
    cdef Py_ssize_t m
    cdef unsigned char buf[_STATUS_BUF]
    out.present &= ~(<unsigned int>P_AMENDED)
    if p[0] != _QUOTE:
        return _skip_any(p, end, 2)
    body = p + 1
    p = _string(body, end, &esc)
    if p == NULL:
        return NULL
    if esc:
        m = _unescape(body, p - 1, buf, _STATUS_BUF)
        if m == 9 and memcmp(buf, b"AMENDMENT", 9) == 0:
            out.present |= P_AMENDED
    elif p - 1 - body == 9 and memcmp(body, b"AMENDMENT", 9) == 0:
        out.present |= P_AMENDED
    return p


cdef const unsigned char* _event_value(const unsigned char* p, const unsigned char* end,
                                       Update* out, _State* st) noexcept nogil:
    cdef const unsigned char* body
    cdef bint esc = False
    cdef Py_ssize_t m
    st.e_state = 0
    st.otu = False
    st.algo = False
    out.event_type_len = 0
    if p[0] == _QUOTE:
        body = p + 1
        p = _string(body, end, &esc)
        if p == NULL:
            return NULL
        if esc:
            m = _unescape(body, p - 1, <unsigned char*>out.event_type, EVENT_TYPE_MAX)
        else:
            m = p - 1 - body
            memcpy(out.event_type, body, m if m <= EVENT_TYPE_MAX else EVENT_TYPE_MAX)
        st.otu = m == 18 and memcmp(out.event_type, b"ORDER_TRADE_UPDATE", 18) == 0
        st.algo = m == 11 and memcmp(out.event_type, b"ALGO_UPDATE", 11) == 0
        out.event_type_len = <int>m if m <= EVENT_TYPE_MAX else _utf8_cut(out.event_type, EVENT_TYPE_MAX)
        st.e_state = 1
        return p
    if _is_null(p, end):
        return p + 4
    st.e_state = 2
    return _skip(p, end, 1)


cdef inline void _reset_order(Update* out, _State* st) noexcept nogil:
    # A repeated "o" replaces the earlier one entirely (last key wins): forget all of it.
    out.status = ST_NONE
    out.cid_len = 0
    out.present &= ~(<unsigned int>_ORDER_BITS)
    out.order_id = 0
    out.trade_id = 0
    out.trade_time = 0
    out.z = 0
    out.l = 0  # no-cython-lint (E741: "l" is Binance's key for the last fill qty)
    out.L = 0
    out.ap = 0
    out.q = 0
    out.p = 0
    out.algo_id = 0
    st.have_c = False
    st.have_x = False
    st.have_caid = False
    st.acid_len = 0
    st.ai = 0
    st.aq = 0
    st.apresent = 0
    memset(st.err, 0, _NF_ORDER)


cdef const unsigned char* _order(const unsigned char* p, const unsigned char* end, Update* out,
                                 _State* st) noexcept nogil:
    # p: just after the "o" object's '{' (depth 2). Dispatch on key length and first byte.
    cdef const unsigned char* key
    cdef const unsigned char* q
    cdef Py_ssize_t klen
    cdef unsigned char kbuf[_KEY_BUF]
    cdef unsigned char k
    cdef bint esc
    p = _ws(p, end)
    if p >= end:
        return NULL
    if p[0] == c'}':
        return p + 1
    while True:
        if p >= end or p[0] != _QUOTE:
            return NULL
        key = p + 1
        q = _short_key(p, end, &klen)
        if q != NULL:
            p = _ws(q, end)
            if p >= end:
                return NULL
        else:
            esc = False
            p = _string(key, end, &esc)
            if p == NULL:
                return NULL
            if esc:
                klen = _unescape(key, p - 1, kbuf, _KEY_BUF)
                key = kbuf
            else:
                klen = p - 1 - key
            p = _colon(p, end)
            if p == NULL:
                return NULL
        if klen == 1:
            k = key[0]
            if k == c'c':
                p = _cid_value(p, end, out, st)
            elif k == c'X':
                p = _status_value(p, end, out, st)
            elif k == c'i':
                p = _int_value(p, end, 2, st, _F_I, &out.order_id, &out.present, P_ORDER_ID)
            elif k == c't':
                p = _int_value(p, end, 2, st, _F_T, &out.trade_id, &out.present, P_TRADE_ID)
            elif k == c'T':
                p = _int_value(p, end, 2, st, _F_TT, &out.trade_time, &out.present, P_TRADE_TIME)
            elif k == c'z':
                p = _decimal_value(p, end, st, _F_Z, &out.z, &out.present, P_Z, False)
            elif k == c'l':
                p = _decimal_value(p, end, st, _F_L, &out.l, &out.present, P_L, False)
            elif k == c'L':
                if st.hint != NULL and st.have_c:
                    st.hint(st.hctx, NULL, 0, 1)
                p = _decimal_value(p, end, st, _F_LP, &out.L, &out.present, P_LP, False)
            elif k == c'q':
                p = _decimal_value(p, end, st, _F_Q, &out.q, &out.present, P_Q, False)
            elif k == c'p':
                p = _decimal_value(p, end, st, _F_P, &out.p, &out.present, P_P, False)
            elif k == c'x':
                p = _exec_type_value(p, end, out)
            else:
                p = _skip_any(p, end, 2)
        elif klen == 2 and key[0] == c'a':
            if key[1] == c'p':
                # ap is an average, not an exchange price: rounded, not refused
                # (docs/binance-protocol.md, "Order update event")
                p = _decimal_value(p, end, st, _F_AP, &out.ap, &out.present, P_AP, True)
            elif key[1] == c'i':
                p = _ai_value(p, end, st)
            elif key[1] == c'q':
                p = _decimal_value(p, end, st, _F_AQ, &st.aq, &st.apresent, _A_AQ, False)
            else:
                p = _skip_any(p, end, 2)
        elif klen == 3 and key[0] == c'a' and key[1] == c'i' and key[2] == c'd':
            p = _int_value(p, end, 2, st, _F_AID, &out.algo_id, &out.present, P_ALGO_ID)
        elif klen == 4 and memcmp(key, b"caid", 4) == 0:
            p = _caid_value(p, end, st)
        else:
            p = _skip_any(p, end, 2)
        if p == NULL:
            return NULL
        p = _ws(p, end)
        if p >= end:
            return NULL
        if p[0] == c',':
            p = _ws(p + 1, end)
            continue
        if p[0] == c'}':
            return p + 1
        return NULL


cdef const unsigned char* _envelope(const unsigned char* p, const unsigned char* end, Update* out,
                                    _State* st) noexcept nogil:
    # p: just after the top-level '{' (depth 1).
    cdef const unsigned char* key
    cdef const unsigned char* q
    cdef Py_ssize_t klen
    cdef unsigned char kbuf[_KEY_BUF]
    cdef unsigned char k
    cdef bint esc
    p = _ws(p, end)
    if p >= end:
        return NULL
    if p[0] == c'}':
        return p + 1
    while True:
        if p >= end or p[0] != _QUOTE:
            return NULL
        key = p + 1
        q = _short_key(p, end, &klen)
        if q != NULL:
            p = _ws(q, end)
            if p >= end:
                return NULL
        else:
            esc = False
            p = _string(key, end, &esc)
            if p == NULL:
                return NULL
            if esc:
                klen = _unescape(key, p - 1, kbuf, _KEY_BUF)
                key = kbuf
            else:
                klen = p - 1 - key
            p = _colon(p, end)
            if p == NULL:
                return NULL
        k = key[0] if klen == 1 else 0
        if k == c'o':
            if st.o_seen:
                _reset_order(out, st)
            st.o_seen = True
            if p[0] == c'{':
                st.o_state = 1
                p = _order(p + 1, end, out, st)
            elif _is_null(p, end):
                st.o_state = 0
                p += 4
            else:
                st.o_state = 2
                p = _skip(p, end, 1)
        elif k == c'e':
            p = _event_value(p, end, out, st)
        elif k == c'E':
            p = _int_value(p, end, 1, st, _F_E, &out.event_time, &out.present, P_EVENT_TIME)
        else:
            p = _skip_any(p, end, 1)
        if p == NULL:
            return NULL
        p = _ws(p, end)
        if p >= end:
            return NULL
        if p[0] == c',':
            p = _ws(p + 1, end)
            continue
        if p[0] == c'}':
            return p + 1
        return NULL


cdef inline int _malformed(Update* out, int reason) noexcept nogil:
    memset(out, 0, sizeof(Update))
    out.reason = reason
    return R_MALFORMED


cdef int _finish(Update* out, _State* st) noexcept nogil:
    # Report as the pure twin checks: e, E, o, then the order fields in slot order.
    cdef char event_type[EVENT_TYPE_MAX]
    cdef int n, f
    if st.e_state == 0:
        return _malformed(out, M_NO_EVENT)
    if st.e_state == 2:
        return _malformed(out, M_TYPE)
    if not st.otu and not st.algo:
        n = out.event_type_len
        memcpy(event_type, out.event_type, n)
        memset(out, 0, sizeof(Update))
        memcpy(out.event_type, event_type, n)
        out.event_type_len = n
        return R_OTHER_EVENT
    if st.err[_F_E]:
        return _malformed(out, st.err[_F_E])
    if st.o_state == 0:
        return _malformed(out, M_MISSING)
    if st.o_state == 2:
        return _malformed(out, M_TYPE)
    if st.algo:
        return _finish_algo(out, st)
    if st.err[_F_C]:
        return _malformed(out, st.err[_F_C])
    if not st.have_c:
        return _malformed(out, M_MISSING)
    if st.err[_F_X]:
        return _malformed(out, st.err[_F_X])
    if not st.have_x:
        return _malformed(out, M_MISSING)
    for f in range(_F_I, _F_CAID):
        if st.err[f]:
            return _malformed(out, st.err[f])
    if out.status >= ST_TRIGGERING:
        out.status = ST_OTHER  # an algo status is no order status
    out.present &= ~(<unsigned int>P_ALGO_ID)
    out.algo_id = 0
    return R_ORDER


cdef int _finish_algo(Update* out, _State* st) noexcept nogil:
    # An ALGO_UPDATE: its errors in the pure twin's order, then its slots into the Update.
    cdef int s
    if st.err[_F_CAID]:
        return _malformed(out, st.err[_F_CAID])
    if not st.have_caid:
        return _malformed(out, M_MISSING)
    if st.err[_F_X]:
        return _malformed(out, st.err[_F_X])
    if not st.have_x:
        return _malformed(out, M_MISSING)
    if st.err[_F_AID]:
        return _malformed(out, st.err[_F_AID])
    if st.err[_F_AI]:
        return _malformed(out, st.err[_F_AI])
    if st.err[_F_AQ]:
        return _malformed(out, st.err[_F_AQ])
    if st.err[_F_AP]:
        return _malformed(out, st.err[_F_AP])
    if st.err[_F_Q]:
        return _malformed(out, st.err[_F_Q])
    if st.err[_F_P]:
        return _malformed(out, st.err[_F_P])
    s = out.status
    if s == ST_PARTIALLY_FILLED or s == ST_FILLED or s == ST_EXPIRED_IN_MATCH:
        out.status = ST_OTHER  # no algo status
    if st.acid_len > 0:
        memcpy(out.cid, st.acid, st.acid_len)
    out.cid_len = st.acid_len
    out.present = (out.present & <unsigned int>_ALGO_KEEP) | P_ALGO
    out.order_id = 0
    out.z = 0
    if st.apresent & _A_AI:
        out.order_id = st.ai
        out.present |= P_ORDER_ID
    if st.apresent & _A_AQ:
        out.z = st.aq
        out.present |= P_Z
    out.trade_id = 0
    out.trade_time = 0
    out.l = 0  # no-cython-lint (E741: "l" is Binance's key for the last fill qty)
    out.L = 0
    return R_ORDER


cdef int decode_frame(const unsigned char* buf, Py_ssize_t n, Update* out) noexcept nogil:
    return decode_frame_hinted(buf, n, out, NULL, NULL)


cdef int decode_frame_hinted(const unsigned char* buf, Py_ssize_t n, Update* out, cid_hint_fn hint,
                             void* ctx) noexcept nogil:
    cdef const unsigned char* end
    cdef const unsigned char* p
    cdef _State st
    memset(out, 0, sizeof(Update))
    memset(&st, 0, sizeof(_State))
    st.hint = hint
    st.hctx = ctx
    if buf == NULL or n <= 0:
        return _malformed(out, M_JSON)
    end = buf + n
    p = _ws(buf, end)
    if p >= end:
        return _malformed(out, M_JSON)
    if p[0] != c'{':
        p = _skip(p, end, 0)
        if p == NULL or _ws(p, end) != end:
            return _malformed(out, M_JSON)
        return _malformed(out, M_NOT_OBJECT)
    p = _envelope(p + 1, end, out, &st)
    if p == NULL or _ws(p, end) != end:
        return _malformed(out, M_JSON)
    return _finish(out, &st)


# ---------------------------------------------------------------------------------------------
# Python side
# ---------------------------------------------------------------------------------------------

cdef dict update_as_dict(int result, const Update* u):
    cdef dict d
    if result == R_ORDER:
        d = te_dict_presized(15)
        d["status"] = u.status
        d["cid"] = PyUnicode_DecodeUTF8(<char*>u.cid, u.cid_len, NULL) if u.cid_len >= 0 else None
        if u.present & P_ORDER_ID:
            d["order_id"] = u.order_id
        if u.present & P_TRADE_ID:
            d["trade_id"] = u.trade_id
        if u.present & P_EVENT_TIME:
            d["event_time"] = u.event_time
        if u.present & P_TRADE_TIME:
            d["trade_time"] = u.trade_time
        if u.present & P_Z:
            d["z"] = u.z
        if u.present & P_L:
            d["l"] = u.l
        if u.present & P_LP:
            d["L"] = u.L
        if u.present & P_AP:
            d["ap"] = u.ap
        if u.present & P_Q:
            d["q"] = u.q
        if u.present & P_P:
            d["p"] = u.p
        if u.present & P_AMENDED:
            d["amended"] = True
        if u.present & P_ALGO:
            d["algo"] = True
            if u.present & P_ALGO_ID:
                d["algo_id"] = u.algo_id
        return d
    if result == R_OTHER_EVENT:
        return {"event_type": PyUnicode_DecodeUTF8(<char*>u.event_type, u.event_type_len, NULL)}
    return {"reason": u.reason}


def decode(data):
    """Decode one raw frame: ``(R_ORDER, fields)``, ``(R_OTHER_EVENT, {"event_type": ...})`` or
    ``(R_MALFORMED, {"reason": M_*})``; the same as the pure twin's ``decode``. Raises
    ``TypeError`` only for an unsupported argument type (or a non-contiguous memoryview).
    Subclasses of bytes, bytearray and str are read as their contents (see ``_decode_py.decode``).
    """
    cdef Update u
    cdef Py_buffer view
    cdef const char* s
    cdef Py_ssize_t n
    cdef int r
    if type(data) is bytes:
        r = decode_frame(<const unsigned char*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), &u)
    elif isinstance(data, str):
        try:
            s = PyUnicode_AsUTF8AndSize(data, &n)
        except UnicodeEncodeError:      # lone surrogates: orjson rejects them too
            return R_MALFORMED, {"reason": M_JSON}
        r = decode_frame(<const unsigned char*>s, n, &u)
    elif isinstance(data, (bytes, bytearray, memoryview)):
        if isinstance(data, memoryview) and not data.c_contiguous:
            raise TypeError("decode() needs a contiguous buffer")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            r = decode_frame(<const unsigned char*>view.buf, view.len, &u)
        finally:
            PyBuffer_Release(&view)
    else:
        raise TypeError(f"decode() takes bytes, bytearray, memoryview or str, not {type(data).__name__}")
    return r, update_as_dict(r, &u)


def _scan_loop(bytes frame, Py_ssize_t loops):
    """Benchmark hook: run decode_frame ``loops`` times on ``frame`` in C (no Python object per
    frame); returns a checksum so that the loop cannot be optimised away."""
    cdef Update u
    cdef const unsigned char* b = <const unsigned char*>PyBytes_AS_STRING(frame)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(frame)
    cdef Py_ssize_t _round
    cdef int64_t acc = 0
    with nogil:
        for _round in range(loops):
            acc += decode_frame(b, n, &u) + u.order_id + u.z
    return acc
