//! The instruction table: the single source of truth for every 32-bit
//! instruction friscy knows. The decoder matches against it, the
//! disassembler prints from it, and the machine's executor matches on the
//! [`Op`] it generates (an exhaustive `match`, so a row without an
//! implementation does not compile).
//!
//! Each row: `Op = "mnemonic", Format, Extension, mask, match;` — an
//! encoding `bits` is that instruction when `bits & mask == match`.

/// How an instruction's operands are encoded and printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `rd, rs1, rs2` (integer registers)
    R,
    /// `rd, rs1` with rs2 fixed by the encoding (clz, sext.b, rev8, ...)
    Unary,
    /// `rd, rs1, imm12`
    I,
    /// `rd, rs1, shamt` with a 6-bit shift amount
    ShiftI,
    /// `rd, rs1, shamt` with a 5-bit shift amount (word shifts)
    ShiftIW,
    /// `rd, imm12(rs1)`
    Load,
    /// `rs2, imm12(rs1)`
    Store,
    /// `rs1, rs2, pc + imm13`
    Branch,
    /// `rd, imm20` (upper immediate)
    U,
    /// `rd, pc + imm21`
    J,
    /// `rd, imm12(rs1)` (jalr)
    Jalr,
    /// `pred, succ` (fence)
    Fence,
    /// no operands (ecall, ebreak, fence.i)
    None,
    /// `rd, csr, rs1`
    Csr,
    /// `rd, csr, uimm5`
    CsrI,
    /// `rd, rs2, (rs1)` with aq/rl bits
    Amo,
    /// `rd, (rs1)` with aq/rl bits (lr)
    Lr,
    /// `frd, imm12(rs1)`
    FLoad,
    /// `frs2, imm12(rs1)`
    FStore,
    /// `frd, frs1, frs2, rm`
    FR,
    /// `frd, frs1, frs2` (no rounding mode: sign injection, min/max)
    FRn,
    /// `rd, frs1, frs2` (comparisons)
    FCmp,
    /// `frd, frs1, frs2, frs3, rm` (fused multiply-add)
    FR4,
    /// `frd, frs1, rm` (sqrt, fcvt between float formats)
    FUnaryFF,
    /// `rd, frs1, rm` (fcvt to integer)
    FUnaryXF,
    /// `frd, rs1, rm` (fcvt from integer)
    FUnaryFX,
    /// `rd, frs1` (fmv.x.*, fclass)
    FMvXF,
    /// `frd, rs1` (fmv.*.x)
    FMvFX,
}

/// The extension an instruction belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ext {
    I,
    M,
    A,
    F,
    D,
    Zicsr,
    Zifencei,
    Zba,
    Zbb,
    Zbs,
    Zicond,
}

/// One row of the table.
#[derive(Clone, Copy, Debug)]
pub struct Desc {
    pub op: Op,
    pub name: &'static str,
    pub format: Format,
    pub ext: Ext,
    pub mask: u32,
    pub bits: u32,
}

macro_rules! instructions {
    ($( $op:ident = $name:literal, $fmt:ident, $ext:ident, $mask:literal, $match:literal; )*) => {
        /// Every 32-bit instruction friscy executes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Op { $($op,)* }

        impl Op {
            /// Number of ops.
            pub const COUNT: usize = [$(stringify!($op)),*].len();

            /// The op numbered `n` (`Op as u8`), if any.
            pub const fn from_u8(n: u8) -> Option<Op> {
                $( if n == Op::$op as u8 { return Some(Op::$op); } )*
                None
            }
        }

        /// The table, in `Op` order.
        pub static TABLE: &[Desc] = &[
            $( Desc { op: Op::$op, name: $name, format: Format::$fmt, ext: Ext::$ext,
                      mask: $mask, bits: $match }, )*
        ];
    };
}

instructions! {
    // RV64I
    Lui = "lui", U, I, 0x0000007f, 0x00000037;
    Auipc = "auipc", U, I, 0x0000007f, 0x00000017;
    Jal = "jal", J, I, 0x0000007f, 0x0000006f;
    Jalr = "jalr", Jalr, I, 0x0000707f, 0x00000067;
    Beq = "beq", Branch, I, 0x0000707f, 0x00000063;
    Bne = "bne", Branch, I, 0x0000707f, 0x00001063;
    Blt = "blt", Branch, I, 0x0000707f, 0x00004063;
    Bge = "bge", Branch, I, 0x0000707f, 0x00005063;
    Bltu = "bltu", Branch, I, 0x0000707f, 0x00006063;
    Bgeu = "bgeu", Branch, I, 0x0000707f, 0x00007063;
    Lb = "lb", Load, I, 0x0000707f, 0x00000003;
    Lh = "lh", Load, I, 0x0000707f, 0x00001003;
    Lw = "lw", Load, I, 0x0000707f, 0x00002003;
    Ld = "ld", Load, I, 0x0000707f, 0x00003003;
    Lbu = "lbu", Load, I, 0x0000707f, 0x00004003;
    Lhu = "lhu", Load, I, 0x0000707f, 0x00005003;
    Lwu = "lwu", Load, I, 0x0000707f, 0x00006003;
    Sb = "sb", Store, I, 0x0000707f, 0x00000023;
    Sh = "sh", Store, I, 0x0000707f, 0x00001023;
    Sw = "sw", Store, I, 0x0000707f, 0x00002023;
    Sd = "sd", Store, I, 0x0000707f, 0x00003023;
    Addi = "addi", I, I, 0x0000707f, 0x00000013;
    Slti = "slti", I, I, 0x0000707f, 0x00002013;
    Sltiu = "sltiu", I, I, 0x0000707f, 0x00003013;
    Xori = "xori", I, I, 0x0000707f, 0x00004013;
    Ori = "ori", I, I, 0x0000707f, 0x00006013;
    Andi = "andi", I, I, 0x0000707f, 0x00007013;
    Slli = "slli", ShiftI, I, 0xfc00707f, 0x00001013;
    Srli = "srli", ShiftI, I, 0xfc00707f, 0x00005013;
    Srai = "srai", ShiftI, I, 0xfc00707f, 0x40005013;
    Add = "add", R, I, 0xfe00707f, 0x00000033;
    Sub = "sub", R, I, 0xfe00707f, 0x40000033;
    Sll = "sll", R, I, 0xfe00707f, 0x00001033;
    Slt = "slt", R, I, 0xfe00707f, 0x00002033;
    Sltu = "sltu", R, I, 0xfe00707f, 0x00003033;
    Xor = "xor", R, I, 0xfe00707f, 0x00004033;
    Srl = "srl", R, I, 0xfe00707f, 0x00005033;
    Sra = "sra", R, I, 0xfe00707f, 0x40005033;
    Or = "or", R, I, 0xfe00707f, 0x00006033;
    And = "and", R, I, 0xfe00707f, 0x00007033;
    Addiw = "addiw", I, I, 0x0000707f, 0x0000001b;
    Slliw = "slliw", ShiftIW, I, 0xfe00707f, 0x0000101b;
    Srliw = "srliw", ShiftIW, I, 0xfe00707f, 0x0000501b;
    Sraiw = "sraiw", ShiftIW, I, 0xfe00707f, 0x4000501b;
    Addw = "addw", R, I, 0xfe00707f, 0x0000003b;
    Subw = "subw", R, I, 0xfe00707f, 0x4000003b;
    Sllw = "sllw", R, I, 0xfe00707f, 0x0000103b;
    Srlw = "srlw", R, I, 0xfe00707f, 0x0000503b;
    Sraw = "sraw", R, I, 0xfe00707f, 0x4000503b;
    Fence = "fence", Fence, I, 0x0000707f, 0x0000000f;
    Ecall = "ecall", None, I, 0xffffffff, 0x00000073;
    Ebreak = "ebreak", None, I, 0xffffffff, 0x00100073;
    // Zifencei
    FenceI = "fence.i", None, Zifencei, 0x0000707f, 0x0000100f;
    // Zicsr
    Csrrw = "csrrw", Csr, Zicsr, 0x0000707f, 0x00001073;
    Csrrs = "csrrs", Csr, Zicsr, 0x0000707f, 0x00002073;
    Csrrc = "csrrc", Csr, Zicsr, 0x0000707f, 0x00003073;
    Csrrwi = "csrrwi", CsrI, Zicsr, 0x0000707f, 0x00005073;
    Csrrsi = "csrrsi", CsrI, Zicsr, 0x0000707f, 0x00006073;
    Csrrci = "csrrci", CsrI, Zicsr, 0x0000707f, 0x00007073;
    // M
    Mul = "mul", R, M, 0xfe00707f, 0x02000033;
    Mulh = "mulh", R, M, 0xfe00707f, 0x02001033;
    Mulhsu = "mulhsu", R, M, 0xfe00707f, 0x02002033;
    Mulhu = "mulhu", R, M, 0xfe00707f, 0x02003033;
    Div = "div", R, M, 0xfe00707f, 0x02004033;
    Divu = "divu", R, M, 0xfe00707f, 0x02005033;
    Rem = "rem", R, M, 0xfe00707f, 0x02006033;
    Remu = "remu", R, M, 0xfe00707f, 0x02007033;
    Mulw = "mulw", R, M, 0xfe00707f, 0x0200003b;
    Divw = "divw", R, M, 0xfe00707f, 0x0200403b;
    Divuw = "divuw", R, M, 0xfe00707f, 0x0200503b;
    Remw = "remw", R, M, 0xfe00707f, 0x0200603b;
    Remuw = "remuw", R, M, 0xfe00707f, 0x0200703b;
    // A
    LrW = "lr.w", Lr, A, 0xf9f0707f, 0x1000202f;
    ScW = "sc.w", Amo, A, 0xf800707f, 0x1800202f;
    AmoswapW = "amoswap.w", Amo, A, 0xf800707f, 0x0800202f;
    AmoaddW = "amoadd.w", Amo, A, 0xf800707f, 0x0000202f;
    AmoxorW = "amoxor.w", Amo, A, 0xf800707f, 0x2000202f;
    AmoandW = "amoand.w", Amo, A, 0xf800707f, 0x6000202f;
    AmoorW = "amoor.w", Amo, A, 0xf800707f, 0x4000202f;
    AmominW = "amomin.w", Amo, A, 0xf800707f, 0x8000202f;
    AmomaxW = "amomax.w", Amo, A, 0xf800707f, 0xa000202f;
    AmominuW = "amominu.w", Amo, A, 0xf800707f, 0xc000202f;
    AmomaxuW = "amomaxu.w", Amo, A, 0xf800707f, 0xe000202f;
    LrD = "lr.d", Lr, A, 0xf9f0707f, 0x1000302f;
    ScD = "sc.d", Amo, A, 0xf800707f, 0x1800302f;
    AmoswapD = "amoswap.d", Amo, A, 0xf800707f, 0x0800302f;
    AmoaddD = "amoadd.d", Amo, A, 0xf800707f, 0x0000302f;
    AmoxorD = "amoxor.d", Amo, A, 0xf800707f, 0x2000302f;
    AmoandD = "amoand.d", Amo, A, 0xf800707f, 0x6000302f;
    AmoorD = "amoor.d", Amo, A, 0xf800707f, 0x4000302f;
    AmominD = "amomin.d", Amo, A, 0xf800707f, 0x8000302f;
    AmomaxD = "amomax.d", Amo, A, 0xf800707f, 0xa000302f;
    AmominuD = "amominu.d", Amo, A, 0xf800707f, 0xc000302f;
    AmomaxuD = "amomaxu.d", Amo, A, 0xf800707f, 0xe000302f;
    // F
    Flw = "flw", FLoad, F, 0x0000707f, 0x00002007;
    Fsw = "fsw", FStore, F, 0x0000707f, 0x00002027;
    FmaddS = "fmadd.s", FR4, F, 0x0600007f, 0x00000043;
    FmsubS = "fmsub.s", FR4, F, 0x0600007f, 0x00000047;
    FnmsubS = "fnmsub.s", FR4, F, 0x0600007f, 0x0000004b;
    FnmaddS = "fnmadd.s", FR4, F, 0x0600007f, 0x0000004f;
    FaddS = "fadd.s", FR, F, 0xfe00007f, 0x00000053;
    FsubS = "fsub.s", FR, F, 0xfe00007f, 0x08000053;
    FmulS = "fmul.s", FR, F, 0xfe00007f, 0x10000053;
    FdivS = "fdiv.s", FR, F, 0xfe00007f, 0x18000053;
    FsqrtS = "fsqrt.s", FUnaryFF, F, 0xfff0007f, 0x58000053;
    FsgnjS = "fsgnj.s", FRn, F, 0xfe00707f, 0x20000053;
    FsgnjnS = "fsgnjn.s", FRn, F, 0xfe00707f, 0x20001053;
    FsgnjxS = "fsgnjx.s", FRn, F, 0xfe00707f, 0x20002053;
    FminS = "fmin.s", FRn, F, 0xfe00707f, 0x28000053;
    FmaxS = "fmax.s", FRn, F, 0xfe00707f, 0x28001053;
    FcvtWS = "fcvt.w.s", FUnaryXF, F, 0xfff0007f, 0xc0000053;
    FcvtWuS = "fcvt.wu.s", FUnaryXF, F, 0xfff0007f, 0xc0100053;
    FcvtLS = "fcvt.l.s", FUnaryXF, F, 0xfff0007f, 0xc0200053;
    FcvtLuS = "fcvt.lu.s", FUnaryXF, F, 0xfff0007f, 0xc0300053;
    FmvXW = "fmv.x.w", FMvXF, F, 0xfff0707f, 0xe0000053;
    FclassS = "fclass.s", FMvXF, F, 0xfff0707f, 0xe0001053;
    FeqS = "feq.s", FCmp, F, 0xfe00707f, 0xa0002053;
    FltS = "flt.s", FCmp, F, 0xfe00707f, 0xa0001053;
    FleS = "fle.s", FCmp, F, 0xfe00707f, 0xa0000053;
    FcvtSW = "fcvt.s.w", FUnaryFX, F, 0xfff0007f, 0xd0000053;
    FcvtSWu = "fcvt.s.wu", FUnaryFX, F, 0xfff0007f, 0xd0100053;
    FcvtSL = "fcvt.s.l", FUnaryFX, F, 0xfff0007f, 0xd0200053;
    FcvtSLu = "fcvt.s.lu", FUnaryFX, F, 0xfff0007f, 0xd0300053;
    FmvWX = "fmv.w.x", FMvFX, F, 0xfff0707f, 0xf0000053;
    // D
    Fld = "fld", FLoad, D, 0x0000707f, 0x00003007;
    Fsd = "fsd", FStore, D, 0x0000707f, 0x00003027;
    FmaddD = "fmadd.d", FR4, D, 0x0600007f, 0x02000043;
    FmsubD = "fmsub.d", FR4, D, 0x0600007f, 0x02000047;
    FnmsubD = "fnmsub.d", FR4, D, 0x0600007f, 0x0200004b;
    FnmaddD = "fnmadd.d", FR4, D, 0x0600007f, 0x0200004f;
    FaddD = "fadd.d", FR, D, 0xfe00007f, 0x02000053;
    FsubD = "fsub.d", FR, D, 0xfe00007f, 0x0a000053;
    FmulD = "fmul.d", FR, D, 0xfe00007f, 0x12000053;
    FdivD = "fdiv.d", FR, D, 0xfe00007f, 0x1a000053;
    FsqrtD = "fsqrt.d", FUnaryFF, D, 0xfff0007f, 0x5a000053;
    FsgnjD = "fsgnj.d", FRn, D, 0xfe00707f, 0x22000053;
    FsgnjnD = "fsgnjn.d", FRn, D, 0xfe00707f, 0x22001053;
    FsgnjxD = "fsgnjx.d", FRn, D, 0xfe00707f, 0x22002053;
    FminD = "fmin.d", FRn, D, 0xfe00707f, 0x2a000053;
    FmaxD = "fmax.d", FRn, D, 0xfe00707f, 0x2a001053;
    FcvtSD = "fcvt.s.d", FUnaryFF, D, 0xfff0007f, 0x40100053;
    FcvtDS = "fcvt.d.s", FUnaryFF, D, 0xfff0007f, 0x42000053;
    FeqD = "feq.d", FCmp, D, 0xfe00707f, 0xa2002053;
    FltD = "flt.d", FCmp, D, 0xfe00707f, 0xa2001053;
    FleD = "fle.d", FCmp, D, 0xfe00707f, 0xa2000053;
    FclassD = "fclass.d", FMvXF, D, 0xfff0707f, 0xe2001053;
    FcvtWD = "fcvt.w.d", FUnaryXF, D, 0xfff0007f, 0xc2000053;
    FcvtWuD = "fcvt.wu.d", FUnaryXF, D, 0xfff0007f, 0xc2100053;
    FcvtLD = "fcvt.l.d", FUnaryXF, D, 0xfff0007f, 0xc2200053;
    FcvtLuD = "fcvt.lu.d", FUnaryXF, D, 0xfff0007f, 0xc2300053;
    FcvtDW = "fcvt.d.w", FUnaryFX, D, 0xfff0007f, 0xd2000053;
    FcvtDWu = "fcvt.d.wu", FUnaryFX, D, 0xfff0007f, 0xd2100053;
    FcvtDL = "fcvt.d.l", FUnaryFX, D, 0xfff0007f, 0xd2200053;
    FcvtDLu = "fcvt.d.lu", FUnaryFX, D, 0xfff0007f, 0xd2300053;
    FmvXD = "fmv.x.d", FMvXF, D, 0xfff0707f, 0xe2000053;
    FmvDX = "fmv.d.x", FMvFX, D, 0xfff0707f, 0xf2000053;
    // Zba
    Sh1add = "sh1add", R, Zba, 0xfe00707f, 0x20002033;
    Sh2add = "sh2add", R, Zba, 0xfe00707f, 0x20004033;
    Sh3add = "sh3add", R, Zba, 0xfe00707f, 0x20006033;
    AddUw = "add.uw", R, Zba, 0xfe00707f, 0x0800003b;
    Sh1addUw = "sh1add.uw", R, Zba, 0xfe00707f, 0x2000203b;
    Sh2addUw = "sh2add.uw", R, Zba, 0xfe00707f, 0x2000403b;
    Sh3addUw = "sh3add.uw", R, Zba, 0xfe00707f, 0x2000603b;
    SlliUw = "slli.uw", ShiftI, Zba, 0xfc00707f, 0x0800101b;
    // Zbb
    Andn = "andn", R, Zbb, 0xfe00707f, 0x40007033;
    Orn = "orn", R, Zbb, 0xfe00707f, 0x40006033;
    Xnor = "xnor", R, Zbb, 0xfe00707f, 0x40004033;
    Clz = "clz", Unary, Zbb, 0xfff0707f, 0x60001013;
    Ctz = "ctz", Unary, Zbb, 0xfff0707f, 0x60101013;
    Cpop = "cpop", Unary, Zbb, 0xfff0707f, 0x60201013;
    Clzw = "clzw", Unary, Zbb, 0xfff0707f, 0x6000101b;
    Ctzw = "ctzw", Unary, Zbb, 0xfff0707f, 0x6010101b;
    Cpopw = "cpopw", Unary, Zbb, 0xfff0707f, 0x6020101b;
    Max = "max", R, Zbb, 0xfe00707f, 0x0a006033;
    Maxu = "maxu", R, Zbb, 0xfe00707f, 0x0a007033;
    Min = "min", R, Zbb, 0xfe00707f, 0x0a004033;
    Minu = "minu", R, Zbb, 0xfe00707f, 0x0a005033;
    SextB = "sext.b", Unary, Zbb, 0xfff0707f, 0x60401013;
    SextH = "sext.h", Unary, Zbb, 0xfff0707f, 0x60501013;
    ZextH = "zext.h", Unary, Zbb, 0xfff0707f, 0x0800403b;
    Rol = "rol", R, Zbb, 0xfe00707f, 0x60001033;
    Ror = "ror", R, Zbb, 0xfe00707f, 0x60005033;
    Rolw = "rolw", R, Zbb, 0xfe00707f, 0x6000103b;
    Rorw = "rorw", R, Zbb, 0xfe00707f, 0x6000503b;
    Rori = "rori", ShiftI, Zbb, 0xfc00707f, 0x60005013;
    Roriw = "roriw", ShiftIW, Zbb, 0xfe00707f, 0x6000501b;
    OrcB = "orc.b", Unary, Zbb, 0xfff0707f, 0x28705013;
    Rev8 = "rev8", Unary, Zbb, 0xfff0707f, 0x6b805013;
    // Zbs
    Bclr = "bclr", R, Zbs, 0xfe00707f, 0x48001033;
    Bext = "bext", R, Zbs, 0xfe00707f, 0x48005033;
    Binv = "binv", R, Zbs, 0xfe00707f, 0x68001033;
    Bset = "bset", R, Zbs, 0xfe00707f, 0x28001033;
    Bclri = "bclri", ShiftI, Zbs, 0xfc00707f, 0x48001013;
    Bexti = "bexti", ShiftI, Zbs, 0xfc00707f, 0x48005013;
    Binvi = "binvi", ShiftI, Zbs, 0xfc00707f, 0x68001013;
    Bseti = "bseti", ShiftI, Zbs, 0xfc00707f, 0x28001013;
    // Zicond
    CzeroEqz = "czero.eqz", R, Zicond, 0xfe00707f, 0x0e005033;
    CzeroNez = "czero.nez", R, Zicond, 0xfe00707f, 0x0e007033;
}

impl Op {
    /// The op whose number (`Op as u8`) is `n`, if any.
    #[inline]
    pub fn from_index(n: u8) -> Option<Op> {
        TABLE.get(usize::from(n)).map(|d| d.op)
    }

    /// This instruction's row of the table.
    pub fn desc(self) -> &'static Desc {
        &TABLE[self as usize]
    }

    /// The assembler mnemonic.
    pub fn name(self) -> &'static str {
        self.desc().name
    }

    pub fn format(self) -> Format {
        self.desc().format
    }

    pub fn ext(self) -> Ext {
        self.desc().ext
    }

    /// Whether the instruction may change the flow of control: jumps,
    /// branches, traps into the environment, and `fence.i` (after which
    /// the following code must be fetched anew).
    pub fn ends_block(self) -> bool {
        matches!(
            self,
            Op::Jal
                | Op::Jalr
                | Op::Beq
                | Op::Bne
                | Op::Blt
                | Op::Bge
                | Op::Bltu
                | Op::Bgeu
                | Op::Ecall
                | Op::Ebreak
                | Op::FenceI
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_are_in_op_order() {
        for (i, d) in TABLE.iter().enumerate() {
            assert_eq!(d.op as usize, i, "{}", d.name);
            assert_eq!(
                d.bits & !d.mask,
                0,
                "{}: match has bits outside its mask",
                d.name
            );
            assert_eq!(d.bits & 3, 3, "{}: not a 32-bit encoding", d.name);
        }
    }

    #[test]
    fn no_two_rows_match_the_same_encoding() {
        // Two rows overlap iff their matches agree on the bits both masks fix.
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                let common = a.mask & b.mask;
                assert_ne!(
                    a.bits & common,
                    b.bits & common,
                    "{} and {} overlap",
                    a.name,
                    b.name
                );
            }
        }
    }
}
