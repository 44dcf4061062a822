//! IEEE 754 binary32/binary64 arithmetic with RISC-V semantics: all five
//! rounding modes, exact accrued-exception flags (tininess detected after
//! rounding), canonical NaNs, and saturating conversions to integers.
//!
//! Every operation has a software path that is exact in every case. The
//! host FPU is used as a fast path where it provably gives the same bits
//! and flags: round-to-nearest-even, the inexact flag already raised, finite
//! operands and a normal result not at the bottom of the normal range (the
//! only flag such an operation can raise is inexact, which is already set).

/// fflags bits.
pub const NX: u8 = 1;
pub const UF: u8 = 2;
pub const OF: u8 = 4;
pub const DZ: u8 = 8;
pub const NV: u8 = 16;

/// Rounding modes.
pub const RNE: u8 = 0;
pub const RTZ: u8 = 1;
pub const RDN: u8 = 2;
pub const RUP: u8 = 3;
pub const RMM: u8 = 4;

/// A binary floating-point format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fmt {
    exp_bits: u32,
    frac_bits: u32,
}

pub const S: Fmt = Fmt {
    exp_bits: 8,
    frac_bits: 23,
};
pub const D: Fmt = Fmt {
    exp_bits: 11,
    frac_bits: 52,
};

impl Fmt {
    fn bias(self) -> i32 {
        (1 << (self.exp_bits - 1)) - 1
    }
    fn exp_max(self) -> u64 {
        (1 << self.exp_bits) - 1
    }
    fn frac_mask(self) -> u64 {
        (1 << self.frac_bits) - 1
    }
    fn sign_bit(self) -> u64 {
        1 << (self.exp_bits + self.frac_bits)
    }
    fn precision(self) -> u32 {
        self.frac_bits + 1
    }
    /// Exponent of the least significant bit of the smallest subnormal.
    fn emin_lsb(self) -> i32 {
        1 - self.bias() - self.frac_bits as i32
    }
    pub fn canonical_nan(self) -> u64 {
        (self.exp_max() << self.frac_bits) | (1 << (self.frac_bits - 1))
    }
    fn inf(self, neg: bool) -> u64 {
        (self.exp_max() << self.frac_bits) | if neg { self.sign_bit() } else { 0 }
    }
    fn zero(self, neg: bool) -> u64 {
        if neg { self.sign_bit() } else { 0 }
    }
    fn max_finite(self, neg: bool) -> u64 {
        ((self.exp_max() - 1) << self.frac_bits)
            | self.frac_mask()
            | if neg { self.sign_bit() } else { 0 }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Zero,
    Finite,
    Inf,
    QNaN,
    SNaN,
}

/// An unpacked value: (-1)^neg * sig * 2^exp.
#[derive(Clone, Copy, Debug)]
struct Val {
    neg: bool,
    class: Class,
    exp: i32,
    sig: u64,
}

fn unpack(f: Fmt, bits: u64) -> Val {
    let neg = bits & f.sign_bit() != 0;
    let e = (bits >> f.frac_bits) & f.exp_max();
    let frac = bits & f.frac_mask();
    let bias = f.bias();
    if e == f.exp_max() {
        let class = if frac == 0 {
            Class::Inf
        } else if frac >> (f.frac_bits - 1) != 0 {
            Class::QNaN
        } else {
            Class::SNaN
        };
        return Val {
            neg,
            class,
            exp: 0,
            sig: 0,
        };
    }
    if e == 0 {
        if frac == 0 {
            return Val {
                neg,
                class: Class::Zero,
                exp: 0,
                sig: 0,
            };
        }
        return Val {
            neg,
            class: Class::Finite,
            exp: f.emin_lsb(),
            sig: frac,
        };
    }
    Val {
        neg,
        class: Class::Finite,
        exp: e as i32 - bias - f.frac_bits as i32,
        sig: frac | (1 << f.frac_bits),
    }
}

fn is_nan(v: &Val) -> bool {
    matches!(v.class, Class::QNaN | Class::SNaN)
}

fn is_snan(v: &Val) -> bool {
    v.class == Class::SNaN
}

/// Rounds `sig` right by `shift` bits (with `sticky` standing for nonzero
/// bits below `sig`). Returns the kept value and whether it is inexact.
fn round_shift(sig: u128, shift: u32, sticky: bool, neg: bool, rm: u8) -> (u128, bool) {
    if shift == 0 {
        // Only sticky bits are dropped: they are below half an ulp.
        let inc = sticky
            && match rm {
                RUP => !neg,
                RDN => neg,
                _ => false,
            };
        return (sig + u128::from(inc), sticky);
    }
    let (keep, rem, half) = if shift >= 128 {
        (0, sig, if shift == 128 { 1u128 << 127 } else { 0 })
    } else {
        (
            sig >> shift,
            sig & ((1u128 << shift) - 1),
            1u128 << (shift - 1),
        )
    };
    // Compare the dropped part (rem + sticky) with half an ulp.
    let (above, at) = if shift > 128 {
        // Everything dropped is below half of the kept lsb.
        (false, false)
    } else {
        (
            rem > half || (rem == half && sticky),
            rem == half && !sticky,
        )
    };
    let inexact = rem != 0 || sticky;
    let inc = match rm {
        RNE => above || (at && keep & 1 == 1),
        RTZ => false,
        RDN => neg && inexact,
        RUP => !neg && inexact,
        RMM => above || at,
        _ => false,
    };
    (keep + u128::from(inc), inexact)
}

/// Rounds the exact value (-1)^neg * (sig + sticky) * 2^exp to the format.
fn round_pack(f: Fmt, neg: bool, exp: i32, sig: u128, sticky: bool, rm: u8, flags: &mut u8) -> u64 {
    if sig == 0 {
        if sticky {
            // A nonzero value far below the smallest subnormal.
            let (keep, _) = round_shift(0, 0, true, neg, rm);
            *flags |= UF | NX;
            return f.zero(neg) | keep as u64;
        }
        return f.zero(neg);
    }
    let p = f.precision() as i32;
    let msb = 127 - sig.leading_zeros() as i32;
    // Unbounded-exponent rounding decides tininess (after rounding).
    let shift_u = msb - (p - 1);
    let (shift, lsb_exp) = {
        let mut lsb = exp + shift_u;
        let mut s = shift_u;
        if lsb < f.emin_lsb() {
            s += f.emin_lsb() - lsb;
            lsb = f.emin_lsb();
        }
        (s, lsb)
    };
    let emin_normal = 1 - f.bias(); // exponent of the msb of the smallest normal
    let tiny = if exp + msb <= emin_normal {
        let (k, _) = if shift_u >= 0 {
            round_shift(sig, shift_u as u32, sticky, neg, rm)
        } else {
            (sig << (-shift_u) as u32, false)
        };
        let top = exp + shift_u + (127 - k.leading_zeros() as i32);
        top < emin_normal
    } else {
        false
    };
    let (mut keep, inexact) = if shift >= 0 {
        round_shift(sig, shift as u32, sticky, neg, rm)
    } else {
        (sig << (-shift) as u32, sticky)
    };
    let mut lsb_exp = lsb_exp;
    if keep >> p != 0 {
        keep >>= 1;
        lsb_exp += 1;
    }
    let exp_field = if keep >> (p - 1) == 0 {
        0
    } else {
        (lsb_exp + f.bias() + f.frac_bits as i32) as i64
    };
    if exp_field >= f.exp_max() as i64 {
        *flags |= OF | NX;
        let to_inf = match rm {
            RNE | RMM => true,
            RTZ => false,
            RDN => neg,
            RUP => !neg,
            _ => true,
        };
        return if to_inf {
            f.inf(neg)
        } else {
            f.max_finite(neg)
        };
    }
    if inexact {
        *flags |= NX;
        if tiny {
            *flags |= UF;
        }
    }
    f.zero(neg) | ((exp_field as u64) << f.frac_bits) | (keep as u64 & f.frac_mask())
}

/// Adds two exact values, each (neg, sig, exp) with sig < 2^120, with
/// rounding; `zero_neg` is the sign an exact zero result takes.
fn add_exact(f: Fmt, a: (bool, u128, i32), b: (bool, u128, i32), rm: u8, flags: &mut u8) -> u64 {
    let norm = |(n, s, e): (bool, u128, i32)| -> (bool, u128, i32) {
        if s == 0 {
            return (n, 0, e);
        }
        let lz = s.leading_zeros() as i32 - 2; // msb at bit 125
        (n, s << lz, e - lz)
    };
    let (mut x, mut y) = (norm(a), norm(b));
    if x.1 == 0 {
        return round_pack(f, y.0, y.2, y.1, false, rm, flags);
    }
    if y.1 == 0 {
        return round_pack(f, x.0, x.2, x.1, false, rm, flags);
    }
    if y.2 > x.2 {
        std::mem::swap(&mut x, &mut y);
    }
    let d = (x.2 - y.2) as u32;
    let (ys, sticky) = if d == 0 {
        (y.1, false)
    } else if d < 128 {
        (y.1 >> d, y.1 & ((1u128 << d) - 1) != 0)
    } else {
        (0, true)
    };
    if x.0 == y.0 {
        return round_pack(f, x.0, x.2, x.1 + ys, sticky, rm, flags);
    }
    // Opposite signs: subtract the smaller magnitude.
    if x.1 > ys {
        let diff = x.1 - ys - u128::from(sticky);
        round_pack(f, x.0, x.2, diff, sticky, rm, flags)
    } else if x.1 == ys {
        f.zero(rm == RDN)
    } else {
        // ys > x.1 only when d == 0 (no sticky bits)
        round_pack(f, y.0, x.2, ys - x.1, false, rm, flags)
    }
}

fn nan_result(f: Fmt, vals: &[&Val], flags: &mut u8) -> u64 {
    if vals.iter().any(|v| is_snan(v)) {
        *flags |= NV;
    }
    f.canonical_nan()
}

pub fn add(f: Fmt, a: u64, b: u64, rm: u8, flags: &mut u8) -> u64 {
    let (x, y) = (unpack(f, a), unpack(f, b));
    if is_nan(&x) || is_nan(&y) {
        return nan_result(f, &[&x, &y], flags);
    }
    match (x.class, y.class) {
        (Class::Inf, Class::Inf) => {
            if x.neg != y.neg {
                *flags |= NV;
                f.canonical_nan()
            } else {
                a
            }
        }
        (Class::Inf, _) => a,
        (_, Class::Inf) => b,
        (Class::Zero, Class::Zero) => {
            if x.neg == y.neg {
                a
            } else {
                f.zero(rm == RDN)
            }
        }
        (Class::Zero, _) => b,
        (_, Class::Zero) => a,
        _ => add_exact(
            f,
            (x.neg, u128::from(x.sig), x.exp),
            (y.neg, u128::from(y.sig), y.exp),
            rm,
            flags,
        ),
    }
}

pub fn sub(f: Fmt, a: u64, b: u64, rm: u8, flags: &mut u8) -> u64 {
    let nb = if is_nan(&unpack(f, b)) {
        b
    } else {
        b ^ f.sign_bit()
    };
    add(f, a, nb, rm, flags)
}

pub fn mul(f: Fmt, a: u64, b: u64, rm: u8, flags: &mut u8) -> u64 {
    let (x, y) = (unpack(f, a), unpack(f, b));
    if is_nan(&x) || is_nan(&y) {
        return nan_result(f, &[&x, &y], flags);
    }
    let neg = x.neg != y.neg;
    match (x.class, y.class) {
        (Class::Inf, Class::Zero) | (Class::Zero, Class::Inf) => {
            *flags |= NV;
            f.canonical_nan()
        }
        (Class::Inf, _) | (_, Class::Inf) => f.inf(neg),
        (Class::Zero, _) | (_, Class::Zero) => f.zero(neg),
        _ => round_pack(
            f,
            neg,
            x.exp + y.exp,
            u128::from(x.sig) * u128::from(y.sig),
            false,
            rm,
            flags,
        ),
    }
}

pub fn div(f: Fmt, a: u64, b: u64, rm: u8, flags: &mut u8) -> u64 {
    let (x, y) = (unpack(f, a), unpack(f, b));
    if is_nan(&x) || is_nan(&y) {
        return nan_result(f, &[&x, &y], flags);
    }
    let neg = x.neg != y.neg;
    match (x.class, y.class) {
        (Class::Inf, Class::Inf) | (Class::Zero, Class::Zero) => {
            *flags |= NV;
            f.canonical_nan()
        }
        (Class::Inf, _) => f.inf(neg),
        (_, Class::Inf) => f.zero(neg),
        (Class::Zero, _) => f.zero(neg),
        (_, Class::Zero) => {
            *flags |= DZ;
            f.inf(neg)
        }
        _ => {
            // Normalise the divisor to 64 bits and the dividend to 127 bits,
            // so the quotient has at least 63 significant bits.
            let ys = u128::from(y.sig) << y.sig.leading_zeros();
            let ye = y.exp - y.sig.leading_zeros() as i32;
            let xs = u128::from(x.sig) << (64 + x.sig.leading_zeros() - 1);
            let xe = x.exp - (64 + x.sig.leading_zeros() as i32 - 1);
            let q = xs / ys;
            let r = xs % ys;
            round_pack(f, neg, xe - ye, q, r != 0, rm, flags)
        }
    }
}

fn isqrt(n: u128) -> (u128, bool) {
    // Bit-by-bit integer square root; returns (floor(sqrt(n)), remainder != 0).
    let mut rem = n;
    let mut root = 0u128;
    let mut bit = 1u128 << 126;
    while bit > rem {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    (root, rem != 0)
}

pub fn sqrt(f: Fmt, a: u64, rm: u8, flags: &mut u8) -> u64 {
    let x = unpack(f, a);
    if is_nan(&x) {
        return nan_result(f, &[&x], flags);
    }
    match x.class {
        Class::Zero => a,
        _ if x.neg => {
            *flags |= NV;
            f.canonical_nan()
        }
        Class::Inf => a,
        _ => {
            // sig * 2^exp with an even exponent and sig shifted to ~2^124.
            let lz = u128::from(x.sig).leading_zeros() as i32;
            let mut shift = lz - 3;
            if (x.exp - shift) % 2 != 0 {
                shift += 1;
            }
            let s = u128::from(x.sig) << shift;
            let e = x.exp - shift;
            let (root, inexact) = isqrt(s);
            round_pack(f, false, e / 2, root, inexact, rm, flags)
        }
    }
}

/// Fused multiply-add: (-1)^neg_prod * a * b + (-1)^neg_c * c, rounded once.
pub fn fma(f: Fmt, a: u64, b: u64, c: u64, signs: (bool, bool), rm: u8, flags: &mut u8) -> u64 {
    let (x, y, z) = (unpack(f, a), unpack(f, b), unpack(f, c));
    let inf_times_zero = matches!(
        (x.class, y.class),
        (Class::Inf, Class::Zero) | (Class::Zero, Class::Inf)
    );
    if is_nan(&x) || is_nan(&y) || is_nan(&z) {
        // The spec requires NV for inf * 0 even when c is a quiet NaN.
        if inf_times_zero {
            *flags |= NV;
        }
        return nan_result(f, &[&x, &y, &z], flags);
    }
    if inf_times_zero {
        *flags |= NV;
        return f.canonical_nan();
    }
    let (neg_prod, neg_c) = signs;
    let pneg = (x.neg != y.neg) != neg_prod;
    let cneg = z.neg != neg_c;
    let pinf = x.class == Class::Inf || y.class == Class::Inf;
    if pinf {
        if z.class == Class::Inf && cneg != pneg {
            *flags |= NV;
            return f.canonical_nan();
        }
        return f.inf(pneg);
    }
    if z.class == Class::Inf {
        return f.inf(cneg);
    }
    let pzero = x.class == Class::Zero || y.class == Class::Zero;
    if pzero {
        if z.class == Class::Zero {
            return if pneg == cneg {
                f.zero(pneg)
            } else {
                f.zero(rm == RDN)
            };
        }
        return round_pack(f, cneg, z.exp, u128::from(z.sig), false, rm, flags);
    }
    let prod = (pneg, u128::from(x.sig) * u128::from(y.sig), x.exp + y.exp);
    if z.class == Class::Zero {
        return round_pack(f, prod.0, prod.2, prod.1, false, rm, flags);
    }
    add_exact(f, prod, (cneg, u128::from(z.sig), z.exp), rm, flags)
}

/// f32 <-> f64 conversion.
pub fn convert(from: Fmt, to: Fmt, a: u64, rm: u8, flags: &mut u8) -> u64 {
    let x = unpack(from, a);
    match x.class {
        Class::QNaN | Class::SNaN => nan_result(to, &[&x], flags),
        Class::Inf => to.inf(x.neg),
        Class::Zero => to.zero(x.neg),
        Class::Finite => round_pack(to, x.neg, x.exp, u128::from(x.sig), false, rm, flags),
    }
}

/// Integer kinds for conversions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntKind {
    W,
    Wu,
    L,
    Lu,
}

impl IntKind {
    fn range(self) -> (i128, i128) {
        match self {
            IntKind::W => (i128::from(i32::MIN), i128::from(i32::MAX)),
            IntKind::Wu => (0, i128::from(u32::MAX)),
            IntKind::L => (i128::from(i64::MIN), i128::from(i64::MAX)),
            IntKind::Lu => (0, i128::from(u64::MAX)),
        }
    }

    /// The value as the 64-bit register holds it (32-bit results are
    /// sign-extended, also for the unsigned kind).
    fn to_reg(self, v: i128) -> u64 {
        match self {
            IntKind::W | IntKind::Wu => v as i32 as i64 as u64,
            IntKind::L | IntKind::Lu => v as u64,
        }
    }
}

/// Float to integer with rounding, saturation and RISC-V's NaN result.
pub fn to_int(f: Fmt, a: u64, kind: IntKind, rm: u8, flags: &mut u8) -> u64 {
    let x = unpack(f, a);
    let (lo, hi) = kind.range();
    let v: i128 = match x.class {
        Class::QNaN | Class::SNaN => {
            *flags |= NV;
            return kind.to_reg(hi);
        }
        Class::Inf => {
            *flags |= NV;
            return kind.to_reg(if x.neg { lo } else { hi });
        }
        Class::Zero => 0,
        Class::Finite => {
            let (mag, inexact) = if x.exp >= 0 {
                if x.exp > 70 {
                    *flags |= NV;
                    return kind.to_reg(if x.neg { lo } else { hi });
                }
                (u128::from(x.sig) << x.exp, false)
            } else {
                round_shift(u128::from(x.sig), (-x.exp) as u32, false, x.neg, rm)
            };
            let v = if x.neg { -(mag as i128) } else { mag as i128 };
            if v < lo || v > hi {
                *flags |= NV;
                return kind.to_reg(if x.neg { lo } else { hi });
            }
            if inexact {
                *flags |= NX;
            }
            v
        }
    };
    kind.to_reg(v)
}

/// Integer (already sign- or zero-extended to i128) to float.
pub fn from_int(f: Fmt, v: i128, rm: u8, flags: &mut u8) -> u64 {
    let neg = v < 0;
    round_pack(f, neg, 0, v.unsigned_abs(), false, rm, flags)
}

/// fmin/fmax (IEEE 754-2019 minimumNumber/maximumNumber, -0 < +0).
pub fn min_max(f: Fmt, a: u64, b: u64, max: bool, flags: &mut u8) -> u64 {
    let (x, y) = (unpack(f, a), unpack(f, b));
    if is_snan(&x) || is_snan(&y) {
        *flags |= NV;
    }
    match (is_nan(&x), is_nan(&y)) {
        (true, true) => return f.canonical_nan(),
        (true, false) => return b,
        (false, true) => return a,
        _ => {}
    }
    let a_less = lt_ordered(f, a, b) || (x.neg && !y.neg && a != b);
    if a_less != max { a } else { b }
}

/// a < b for non-NaN values (treating -0 == +0).
fn lt_ordered(f: Fmt, a: u64, b: u64) -> bool {
    let sa = a & f.sign_bit() != 0;
    let sb = b & f.sign_bit() != 0;
    let ma = a & !f.sign_bit();
    let mb = b & !f.sign_bit();
    if ma == 0 && mb == 0 {
        return false;
    }
    match (sa, sb) {
        (false, false) => ma < mb,
        (true, true) => ma > mb,
        (true, false) => true,
        (false, true) => false,
    }
}

/// feq (quiet), flt and fle (signaling).
pub fn compare(f: Fmt, a: u64, b: u64, kind: Cmp, flags: &mut u8) -> u64 {
    let (x, y) = (unpack(f, a), unpack(f, b));
    if is_nan(&x) || is_nan(&y) {
        if kind != Cmp::Eq || is_snan(&x) || is_snan(&y) {
            *flags |= NV;
        }
        return 0;
    }
    let eq = a == b || (a | b) & !f.sign_bit() == 0;
    u64::from(match kind {
        Cmp::Eq => eq,
        Cmp::Lt => lt_ordered(f, a, b),
        Cmp::Le => eq || lt_ordered(f, a, b),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Le,
}

/// fclass: one bit set for the class of the value.
pub fn classify(f: Fmt, a: u64) -> u64 {
    let x = unpack(f, a);
    let subnormal = x.class == Class::Finite && (a >> f.frac_bits) & f.exp_max() == 0;
    let bit = match (x.class, x.neg) {
        (Class::Inf, true) => 0,
        (Class::Finite, true) if !subnormal => 1,
        (Class::Finite, true) => 2,
        (Class::Zero, true) => 3,
        (Class::Zero, false) => 4,
        (Class::Finite, false) if subnormal => 5,
        (Class::Finite, false) => 6,
        (Class::Inf, false) => 7,
        (Class::SNaN, _) => 8,
        (Class::QNaN, _) => 9,
    };
    1 << bit
}

// ---- host fast paths -------------------------------------------------------

/// Whether a host result can be returned as is: see the module docs.
#[inline(always)]
fn fast_ok64(r: f64) -> bool {
    r.is_finite() && r.abs() > f64::MIN_POSITIVE
}

#[inline(always)]
fn fast_ok32(r: f32) -> bool {
    r.is_finite() && r.abs() > f32::MIN_POSITIVE
}

#[inline(always)]
fn finite64(a: f64) -> bool {
    a.is_finite()
}

#[inline(always)]
fn finite32(a: f32) -> bool {
    a.is_finite()
}

/// Binary operations with a host fast path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[inline(always)]
pub fn binop64(op: BinOp, a: u64, b: u64, rm: u8, flags: &mut u8) -> u64 {
    if rm == RNE && *flags & NX != 0 {
        let (x, y) = (f64::from_bits(a), f64::from_bits(b));
        if finite64(x) && finite64(y) {
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
            };
            if fast_ok64(r) && (op != BinOp::Div || y != 0.0) {
                return r.to_bits();
            }
        }
    }
    binop_soft(D, op, a, b, rm, flags)
}

#[inline(always)]
pub fn binop32(op: BinOp, a: u32, b: u32, rm: u8, flags: &mut u8) -> u32 {
    if rm == RNE && *flags & NX != 0 {
        let (x, y) = (f32::from_bits(a), f32::from_bits(b));
        if finite32(x) && finite32(y) {
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
            };
            if fast_ok32(r) && (op != BinOp::Div || y != 0.0) {
                return r.to_bits();
            }
        }
    }
    binop_soft(S, op, u64::from(a), u64::from(b), rm, flags) as u32
}

fn binop_soft(f: Fmt, op: BinOp, a: u64, b: u64, rm: u8, flags: &mut u8) -> u64 {
    match op {
        BinOp::Add => add(f, a, b, rm, flags),
        BinOp::Sub => sub(f, a, b, rm, flags),
        BinOp::Mul => mul(f, a, b, rm, flags),
        BinOp::Div => div(f, a, b, rm, flags),
    }
}

#[inline(always)]
pub fn sqrt64(a: u64, rm: u8, flags: &mut u8) -> u64 {
    if rm == RNE && *flags & NX != 0 {
        let x = f64::from_bits(a);
        if finite64(x) && x > 0.0 {
            let r = x.sqrt();
            if fast_ok64(r) {
                return r.to_bits();
            }
        }
    }
    sqrt(D, a, rm, flags)
}

#[inline(always)]
pub fn sqrt32(a: u32, rm: u8, flags: &mut u8) -> u32 {
    if rm == RNE && *flags & NX != 0 {
        let x = f32::from_bits(a);
        if finite32(x) && x > 0.0 {
            let r = x.sqrt();
            if fast_ok32(r) {
                return r.to_bits();
            }
        }
    }
    sqrt(S, u64::from(a), rm, flags) as u32
}

#[inline(always)]
pub fn fma64(a: u64, b: u64, c: u64, signs: (bool, bool), rm: u8, flags: &mut u8) -> u64 {
    if rm == RNE && *flags & NX != 0 {
        let (x, y, z) = (f64::from_bits(a), f64::from_bits(b), f64::from_bits(c));
        if finite64(x) && finite64(y) && finite64(z) {
            let x = if signs.0 { -x } else { x };
            let z = if signs.1 { -z } else { z };
            let r = x.mul_add(y, z);
            if fast_ok64(r) {
                return r.to_bits();
            }
        }
    }
    fma(D, a, b, c, signs, rm, flags)
}

#[inline(always)]
pub fn fma32(a: u32, b: u32, c: u32, signs: (bool, bool), rm: u8, flags: &mut u8) -> u32 {
    if rm == RNE && *flags & NX != 0 {
        let (x, y, z) = (f32::from_bits(a), f32::from_bits(b), f32::from_bits(c));
        if finite32(x) && finite32(y) && finite32(z) {
            let x = if signs.0 { -x } else { x };
            let z = if signs.1 { -z } else { z };
            let r = x.mul_add(y, z);
            if fast_ok32(r) {
                return r.to_bits();
            }
        }
    }
    fma(
        S,
        u64::from(a),
        u64::from(b),
        u64::from(c),
        signs,
        rm,
        flags,
    ) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(x: f64) -> u64 {
        x.to_bits()
    }

    #[test]
    fn soft_matches_host_in_round_to_nearest() {
        // A spread of values, including subnormals, compared with the host
        // FPU (which is correct for RNE); flags are checked elsewhere.
        let vals = [
            1.0,
            -1.5,
            3.0e-310,
            -2.5e-320,
            1.0e308,
            0.1,
            1.0 / 3.0,
            -7.25,
            123456.789,
            f64::MIN_POSITIVE,
            5e-324,
            2.0f64.powi(-1022) * 1.5,
        ];
        for &a in &vals {
            for &b in &vals {
                let mut fl = 0;
                assert_eq!(add(D, d(a), d(b), RNE, &mut fl), d(a + b), "{a} + {b}");
                assert_eq!(sub(D, d(a), d(b), RNE, &mut fl), d(a - b), "{a} - {b}");
                assert_eq!(mul(D, d(a), d(b), RNE, &mut fl), d(a * b), "{a} * {b}");
                assert_eq!(div(D, d(a), d(b), RNE, &mut fl), d(a / b), "{a} / {b}");
                for &c in &vals {
                    assert_eq!(
                        fma(D, d(a), d(b), d(c), (false, false), RNE, &mut fl),
                        d(a.mul_add(b, c)),
                        "fma({a}, {b}, {c})"
                    );
                }
                let (fa, fb) = (a as f32, b as f32);
                // RISC-V results are canonical NaNs; the host's may differ.
                let s = |x: f32| {
                    if x.is_nan() {
                        S.canonical_nan()
                    } else {
                        u64::from(x.to_bits())
                    }
                };
                assert_eq!(
                    add(S, s(fa), s(fb), RNE, &mut fl),
                    s(fa + fb),
                    "{fa} + {fb}"
                );
                assert_eq!(
                    mul(S, s(fa), s(fb), RNE, &mut fl),
                    s(fa * fb),
                    "{fa} * {fb}"
                );
                assert_eq!(
                    div(S, s(fa), s(fb), RNE, &mut fl),
                    s(fa / fb),
                    "{fa} / {fb}"
                );
            }
            let mut fl = 0;
            assert_eq!(
                sqrt(D, d(a.abs()), RNE, &mut fl),
                d(a.abs().sqrt()),
                "sqrt {a}"
            );
            assert_eq!(
                convert(D, S, d(a), RNE, &mut fl),
                u64::from((a as f32).to_bits())
            );
        }
    }

    #[test]
    fn flags_and_rounding_modes() {
        let mut fl = 0;
        assert_eq!(add(D, d(1.0), d(2.0), RNE, &mut fl), d(3.0));
        assert_eq!(fl, 0);
        assert_eq!(div(D, d(1.0), d(3.0), RTZ, &mut fl), d(1.0 / 3.0));
        assert_eq!(fl, NX);
        let mut fl = 0;
        // 1/3 rounds up in RUP
        assert_eq!(
            div(D, d(1.0), d(3.0), RUP, &mut fl),
            d(1.0 / 3.0) + 1,
            "RUP"
        );
        let mut fl = 0;
        assert_eq!(div(D, d(1.0), d(0.0), RNE, &mut fl), d(f64::INFINITY));
        assert_eq!(fl, DZ);
        let mut fl = 0;
        assert_eq!(mul(D, d(1e308), d(10.0), RTZ, &mut fl), d(f64::MAX));
        assert_eq!(fl, OF | NX);
        let mut fl = 0;
        assert_eq!(mul(D, d(1e-300), d(1e-300), RNE, &mut fl), 0);
        assert_eq!(fl, UF | NX);
        let mut fl = 0;
        assert_eq!(sqrt(D, d(-1.0), RNE, &mut fl), D.canonical_nan());
        assert_eq!(fl, NV);
        // x - x is -0 only when rounding down
        let mut fl = 0;
        assert_eq!(sub(D, d(2.0), d(2.0), RDN, &mut fl), d(-0.0));
        assert_eq!(sub(D, d(2.0), d(2.0), RNE, &mut fl), d(0.0));
    }

    #[test]
    fn conversions_saturate() {
        let mut fl = 0;
        assert_eq!(
            to_int(D, d(f64::NAN), IntKind::W, RNE, &mut fl),
            i32::MAX as u64
        );
        assert_eq!(fl, NV);
        let mut fl = 0;
        assert_eq!(to_int(D, d(-1.0), IntKind::Wu, RNE, &mut fl), 0);
        assert_eq!(fl, NV);
        let mut fl = 0;
        assert_eq!(to_int(D, d(-0.4), IntKind::Lu, RNE, &mut fl), 0);
        assert_eq!(fl, NX);
        let mut fl = 0;
        assert_eq!(to_int(D, d(2.5), IntKind::L, RNE, &mut fl), 2);
        assert_eq!(to_int(D, d(2.5), IntKind::L, RMM, &mut fl), 3);
        assert_eq!(to_int(D, d(-2.5), IntKind::L, RDN, &mut fl), (-3i64) as u64);
        assert_eq!(
            to_int(D, d(4e9), IntKind::Wu, RNE, &mut fl),
            4_000_000_000u32 as i32 as u64
        );
        let mut fl = 0;
        assert_eq!(to_int(D, d(1e30), IntKind::Lu, RNE, &mut fl), u64::MAX);
        assert_eq!(fl, NV);
        let mut fl = 0;
        assert_eq!(
            from_int(S, i128::from(u64::MAX), RNE, &mut fl),
            u64::from(1.8446744e19f32.to_bits())
        );
        assert_eq!(fl, NX);
    }

    #[test]
    fn min_max_and_compare() {
        let mut fl = 0;
        assert_eq!(min_max(D, d(-0.0), d(0.0), false, &mut fl), d(-0.0));
        assert_eq!(min_max(D, d(-0.0), d(0.0), true, &mut fl), d(0.0));
        assert_eq!(min_max(D, d(f64::NAN), d(2.0), false, &mut fl), d(2.0));
        assert_eq!(fl, 0);
        assert_eq!(compare(D, d(f64::NAN), d(1.0), Cmp::Lt, &mut fl), 0);
        assert_eq!(fl, NV);
        let mut fl = 0;
        assert_eq!(compare(D, d(f64::NAN), d(1.0), Cmp::Eq, &mut fl), 0);
        assert_eq!(fl, 0);
        assert_eq!(compare(D, d(-0.0), d(0.0), Cmp::Eq, &mut fl), 1);
        assert_eq!(classify(D, d(-0.0)), 1 << 3);
        assert_eq!(classify(D, 1), 1 << 5);
    }
}
