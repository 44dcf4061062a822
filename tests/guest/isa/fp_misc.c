/*
 * The F and D instructions without rounding: fsgnj/fsgnjn/fsgnjx, fmin and
 * fmax (-0 < +0, one or two NaN operands, sNaN raising NV), feq/flt/fle
 * with NaNs (feq quiet, flt/fle signaling), fclass of every class,
 * fmv.x.w/fmv.w.x/fmv.x.d/fmv.d.x, flw/fsw/fld/fsd, and NaN-boxing: a
 * single-precision operand that is not properly NaN-boxed (written by
 * fmv.d.x or fld) must act as the canonical NaN, and single results and
 * loads are boxed.
 */
#include "fp_test.h"

#define FF2N(name, insn) ASM_OP(name, insn " ft3, ft0, ft1\n\tfmv.x.d %0, ft3")
#define XF2N(name, insn) ASM_OP(name, insn " %0, ft0, ft1")
#define XF1N(name, insn) ASM_OP(name, insn " %0, ft0")

FF2N(fsgnj_s, "fsgnj.s") FF2N(fsgnjn_s, "fsgnjn.s") FF2N(fsgnjx_s, "fsgnjx.s")
FF2N(fmin_s, "fmin.s") FF2N(fmax_s, "fmax.s")
FF2N(fsgnj_d, "fsgnj.d") FF2N(fsgnjn_d, "fsgnjn.d") FF2N(fsgnjx_d, "fsgnjx.d")
FF2N(fmin_d, "fmin.d") FF2N(fmax_d, "fmax.d")
XF2N(feq_s, "feq.s") XF2N(flt_s, "flt.s") XF2N(fle_s, "fle.s")
XF2N(feq_d, "feq.d") XF2N(flt_d, "flt.d") XF2N(fle_d, "fle.d")
XF1N(fclass_s, "fclass.s") XF1N(fclass_d, "fclass.d")
XF1N(fmv_x_w, "fmv.x.w") XF1N(fmv_x_d, "fmv.x.d")
ASM_OP(fmv_w_x, "fmv.w.x ft3, %2\n\tfmv.x.d %0, ft3")
/* Single-precision operations on ft0 whose result shows NaN-boxing. */
FF2(fadd_s, "fadd.s") FF1(fsqrt_s, "fsqrt.s") FF1_INSN(fcvt_d_s, 0x21, x0)
XF1(fcvt_w_s, "fcvt.w.s") FF3(fmadd_s, "fmadd.s")

static const struct {
    const char *name;
    fpfn fn;
    int nin, fmt;
} OPS[] = {
    {"fsgnj.s", fsgnj_s, 2, FMT_S},   {"fsgnjn.s", fsgnjn_s, 2, FMT_S},
    {"fsgnjx.s", fsgnjx_s, 2, FMT_S}, {"fmin.s", fmin_s, 2, FMT_S},
    {"fmax.s", fmax_s, 2, FMT_S},     {"feq.s", feq_s, 2, FMT_S},
    {"flt.s", flt_s, 2, FMT_S},       {"fle.s", fle_s, 2, FMT_S},
    {"fsgnj.d", fsgnj_d, 2, FMT_D},   {"fsgnjn.d", fsgnjn_d, 2, FMT_D},
    {"fsgnjx.d", fsgnjx_d, 2, FMT_D}, {"fmin.d", fmin_d, 2, FMT_D},
    {"fmax.d", fmax_d, 2, FMT_D},     {"feq.d", feq_d, 2, FMT_D},
    {"flt.d", flt_d, 2, FMT_D},       {"fle.d", fle_d, 2, FMT_D},
};

/* Not properly NaN-boxed patterns for single-precision operands. */
static const u64 UNBOXED[] = {
    0x000000003f800000ull, /* 1.0 with a zero upper half */
    0x7fffffff3f800000ull, /* one bit of the box missing */
    0xfffffffe00000000ull,
    0x3ff0000000000000ull, /* the double 1.0 */
    0x00000000ff800001ull, /* an "sNaN" that is not boxed */
};

static void loads_stores(void)
{
    static u64 mem[4];
    u64 r, r2;
    mem[0] = 0x1122334455667788ull;
    mem[1] = 0xfff0000000000001ull;
    /* flw boxes the loaded word, whatever it is. */
    __asm__ volatile("flw ft0, 0(%2)\n\tfmv.x.d %0, ft0\n\t"
                     "flw ft1, 12(%2)\n\tfmv.x.d %1, ft1"
                     : "=r"(r), "=r"(r2) : "r"(mem) : "ft0", "ft1", "memory");
    printf("flw -> %016lx %016lx\n", r, r2);
    /* fsw stores the low word of an unboxed register unchanged. */
    __asm__ volatile("fmv.d.x ft0, %1\n\tfsw ft0, 16(%0)\n\tfsw ft0, 20(%0)"
                     : : "r"(mem), "r"(0x0123456789abcdefull)
                     : "ft0", "memory");
    printf("fsw unboxed -> %016lx\n", mem[2]);
    /* fld/fsd move all 64 bits, sNaN included, at an unaligned address. */
    __asm__ volatile("fld ft0, 8(%1)\n\tfsd ft0, 25(%1)\n\tfmv.x.d %0, ft0"
                     : "=r"(r) : "r"(mem) : "ft0", "memory");
    printf("fld/fsd -> %016lx %016lx %016lx\n", r, mem[3],
           *(u64 *)((char *)mem + 24));
    /* A single op on an fld-loaded double (not boxed) sees a NaN. */
    mem[0] = 0x000000003f800000ull;
    __asm__ volatile("fld ft0, 0(%1)\n\tfadd.s ft1, ft0, ft0\n\t"
                     "fmv.x.d %0, ft1"
                     : "=r"(r) : "r"(mem) : "ft0", "ft1", "memory");
    printf("fld unboxed fadd.s -> %016lx\n", r);
}

int main(void)
{
    u64 s_vals[COUNT(S_SPECIAL) + 2];
    unsigned ns = 0;
    for (unsigned i = 0; i < COUNT(S_SPECIAL); i++)
        s_vals[ns++] = box(S_SPECIAL[i]);
    s_vals[ns++] = box(0x40000000); /* 2 */
    s_vals[ns++] = box(0xc0000000); /* -2 */
    u64 d_vals[COUNT(D_SPECIAL) + 2];
    unsigned nd = 0;
    for (unsigned i = 0; i < COUNT(D_SPECIAL); i++)
        d_vals[nd++] = D_SPECIAL[i];
    d_vals[nd++] = 0x4000000000000000ull;
    d_vals[nd++] = 0xc000000000000000ull;

    for (unsigned k = 0; k < COUNT(OPS); k++) {
        const u64 *v = OPS[k].fmt == FMT_S ? s_vals : d_vals;
        unsigned n = OPS[k].fmt == FMT_S ? ns : nd;
        for (unsigned i = 0; i < n; i++)
            for (unsigned j = 0; j < n; j++)
                run1(OPS[k].name, OPS[k].fn, 2, OPS[k].fmt, v[i], v[j]);
    }
    for (unsigned i = 0; i < ns; i++) {
        run1("fclass.s", fclass_s, 1, FMT_S, s_vals[i], 0);
        run1("fmv.x.w", fmv_x_w, 1, FMT_S, s_vals[i], 0);
        run1("fmv.x.d", fmv_x_d, 1, FMT_S, s_vals[i], 0);
        run1("fmv.w.x", fmv_w_x, 1, FMT_X, s_vals[i] & 0xffffffff, 0);
        run1("fmv.w.x", fmv_w_x, 1, FMT_X, s_vals[i] ^ BOX, 0);
    }
    for (unsigned i = 0; i < nd; i++) {
        run1("fclass.d", fclass_d, 1, FMT_D, d_vals[i], 0);
        run1("fmv.x.w", fmv_x_w, 1, FMT_D, d_vals[i], 0);
        run1("fmv.x.d", fmv_x_d, 1, FMT_D, d_vals[i], 0);
    }
    /* NaN-boxing: improperly boxed operands are the canonical NaN. */
    for (unsigned i = 0; i < COUNT(UNBOXED); i++) {
        u64 u = UNBOXED[i], one = box(0x3f800000), neg = box(0xbf800000);
        run1("unboxed fclass.s", fclass_s, 1, FMT_X, u, 0);
        run1("unboxed fmv.x.w", fmv_x_w, 1, FMT_X, u, 0);
        run1("unboxed fsgnj.s a", fsgnj_s, 2, FMT_X, u, neg);
        run1("unboxed fsgnj.s b", fsgnj_s, 2, FMT_X, one, u);
        run1("unboxed fsgnjn.s a", fsgnjn_s, 2, FMT_X, u, one);
        run1("unboxed fsgnjx.s a", fsgnjx_s, 2, FMT_X, u, neg);
        run1("unboxed fmin.s", fmin_s, 2, FMT_X, u, neg);
        run1("unboxed fmax.s", fmax_s, 2, FMT_X, one, u);
        run1("unboxed feq.s", feq_s, 2, FMT_X, u, u);
        run1("unboxed fle.s", fle_s, 2, FMT_X, u, one);
        run_rm("unboxed fadd.s a", fadd_s, 2, FMT_X, u, one, 0, 0x1, 0);
        run_rm("unboxed fadd.s b", fadd_s, 2, FMT_X, one, u, 0, 0x1, 0);
        run_rm("unboxed fsqrt.s", fsqrt_s, 1, FMT_X, u, 0, 0, 0x1, 0);
        run_rm("unboxed fcvt.d.s", fcvt_d_s, 1, FMT_X, u, 0, 0, 0x1, 0);
        run_rm("unboxed fcvt.w.s", fcvt_w_s, 1, FMT_X, u, 0, 0, 0x1, 0);
        run_rm("unboxed fmadd.s", fmadd_s, 3, FMT_X, one, one, u, 0x1, 0);
    }
    loads_stores();
    return 0;
}
