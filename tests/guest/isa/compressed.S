/*
 * RV64C: every compressed instruction form written out explicitly (c.*
 * mnemonics), with immediates at the ends of their ranges and branch and
 * jump offsets near their limits. Each result is recorded with RESULT and
 * printed with printf at the end, one line per case.
 *
 * Register use: s11 points at the next free result slot, t6 is scratch
 * for RESULT; the tests use the other registers freely (main never
 * returns: it ends with exit(0)).
 */

/* Records \reg under the name \name (no spaces). */
.macro RESULT name, reg
    .pushsection .rodata.names, "a"
777:
    .asciz "\name"
    .popsection
    sd \reg, 0(s11)
    lla t6, 777b
    sd t6, 8(s11)
    addi s11, s11, 16
.endm

/* Records f register \freg as raw bits. */
.macro FRESULT name, freg
    fmv.x.d t5, \freg
    RESULT \name, t5
.endm

    .section .rodata
fmt:
    .asciz "%-24s 0x%016lx\n"

    .data
    .balign 16
data:
    .dword 0x8877665544332211, 0xfedcba9876543210, 0x0123456789abcdef
    .dword 0x00000000ffffffff, 0xffffffff7fffffff, 0x7ff0000000000001
    .set i, 6
    .rept 26                        /* distinct values: offsets show */
    .dword 0xa5a5a5a500000000 + i * 0x01010101
    .set i, i + 1
    .endr
data_end:
    .dword 0xa5a5a5a5a5a5a5a5

    .bss
    .balign 16
results:
    .space 16 * 400

    .text
    .globl main
    .type main, @function
main:
    lla s11, results
    /* A frame of 1 KiB for the sp-relative forms. */
    addi sp, sp, -1024
    mv s10, sp

/* ---- quadrant 1: constants and arithmetic ---- */
    c.li a0, -32
    RESULT c.li.-32, a0
    c.li a0, 31
    RESULT c.li.31, a0
    c.li t0, 0
    RESULT c.li.0, t0
    c.lui a1, 1
    RESULT c.lui.1, a1
    c.lui a1, 0x1f
    RESULT c.lui.0x1f, a1
    c.lui t2, 0xfffe0
    RESULT c.lui.0xfffe0, t2
    c.lui a5, 0xfffff
    RESULT c.lui.0xfffff, a5
    li a0, 100
    c.addi a0, -32
    RESULT c.addi.-32, a0
    c.addi a0, 31
    RESULT c.addi.31, a0
    li a2, -1
    c.addi a2, 1
    RESULT c.addi.wrap, a2
    li a0, 0x80000000
    c.addiw a0, -1
    RESULT c.addiw.-1, a0
    li a1, 0x1ffffffff
    c.addiw a1, 0
    RESULT c.addiw.0, a1
    li a3, 0x7fffffff
    c.addiw a3, 31
    RESULT c.addiw.31, a3
    c.nop

    mv a0, sp
    c.addi16sp sp, -512
    sub a1, a0, sp
    RESULT c.addi16sp.-512, a1
    c.addi16sp sp, 496
    sub a1, a0, sp
    RESULT c.addi16sp.496, a1
    c.addi16sp sp, 16
    sub a1, a0, sp
    RESULT c.addi16sp.16, a1
    c.addi16sp sp, -16
    c.addi16sp sp, 16

    li a0, 0x8000000000000001
    mv a1, a0
    mv a2, a0
    c.slli a0, 1
    RESULT c.slli.1, a0
    mv a0, a1
    c.slli a0, 63
    RESULT c.slli.63, a0
    mv a0, a1
    c.slli a0, 32
    RESULT c.slli.32, a0
    c.srli a1, 1
    RESULT c.srli.1, a1
    mv a1, a2
    c.srli a1, 63
    RESULT c.srli.63, a1
    mv a1, a2
    c.srli a1, 32
    RESULT c.srli.32, a1
    mv a3, a2
    c.srai a3, 1
    RESULT c.srai.1, a3
    mv a3, a2
    c.srai a3, 63
    RESULT c.srai.63, a3
    mv a3, a2
    c.srai a3, 32
    RESULT c.srai.32, a3
    li a4, 0x123456789abcdef7
    mv a5, a4
    c.andi a5, -32
    RESULT c.andi.-32, a5
    mv a5, a4
    c.andi a5, 31
    RESULT c.andi.31, a5
    mv a5, a4
    c.andi a5, 0
    RESULT c.andi.0, a5
    mv s0, a4
    c.andi s0, -1
    RESULT c.andi.-1, s0

    /* CA format: rd' = rd' op rs2' */
    li s0, 0x00000000ffffffff
    li s1, 0x8000000000000001
    mv a0, s0
    c.sub a0, s1
    RESULT c.sub, a0
    mv a1, s0
    c.xor a1, s1
    RESULT c.xor, a1
    mv a2, s0
    c.or a2, s1
    RESULT c.or, a2
    mv a3, s0
    c.and a3, s1
    RESULT c.and, a3
    li a4, 0x80000000
    li a5, 1
    c.subw a4, a5
    RESULT c.subw.wrap, a4
    li a4, 0x7fffffff
    c.addw a4, a5
    RESULT c.addw.wrap, a4
    li a0, 0x1234567800000005
    li a1, 0xfffffff000000007
    c.subw a0, a1
    RESULT c.subw.hi, a0
    li a0, 0x1234567800000005
    c.addw a0, a1
    RESULT c.addw.hi, a0

/* ---- quadrant 2: moves ---- */
    li t1, 0x0badc0ffee
    c.mv a0, t1
    RESULT c.mv, a0
    c.mv t3, a0
    RESULT c.mv.t3, t3
    li t4, -5
    c.add a0, t4
    RESULT c.add, a0
    c.add t4, t4
    RESULT c.add.self, t4

/* ---- loads and stores ---- */
    lla s0, data
    c.lw a0, 0(s0)
    RESULT c.lw.0, a0
    c.lw a1, 4(s0)
    RESULT c.lw.4, a1
    c.lw a2, 124(s0)
    RESULT c.lw.124, a2
    c.lw a2, 120(s0)
    RESULT c.lw.120, a2
    c.lw s1, 36(s0)
    RESULT c.lw.36, s1
    c.ld a3, 0(s0)
    RESULT c.ld.0, a3
    c.ld a4, 248(s0)
    RESULT c.ld.248, a4
    c.ld a5, 16(s0)
    RESULT c.ld.16, a5
    c.fld fa0, 8(s0)
    FRESULT c.fld.8, fa0
    c.fld fs1, 248(s0)
    FRESULT c.fld.248, fs1
    c.fld fa5, 40(s0)
    FRESULT c.fld.40, fa5

    li a0, 0x1111222233334444
    c.sw a0, 120(s0)
    c.sd a0, 240(s0)
    c.fsd fa5, 232(s0)
    li a1, -1
    c.sw a1, 0(s0)
    c.sd a1, 48(s0)
    ld t0, 120(s0)
    RESULT c.sw.120, t0
    ld t0, 240(s0)
    RESULT c.sd.240, t0
    ld t0, 232(s0)
    RESULT c.fsd.232, t0
    ld t0, 0(s0)
    RESULT c.sw.0, t0
    ld t0, 48(s0)
    RESULT c.sd.48, t0

    /* sp-relative: fill the frame from data first */
    li t0, 0x80000000fedcba98
    sd t0, 248(sp)
    li t0, 0x8000000012345678
    sd t0, 504(sp)
    li t0, 0x3ff8000000000000
    sd t0, 496(sp)
    sd t0, 0(sp)
    c.lwsp a0, 248(sp)
    RESULT c.lwsp.248, a0
    c.lwsp a1, 252(sp)
    RESULT c.lwsp.252, a1
    c.lwsp t2, 4(sp)
    RESULT c.lwsp.4, t2
    c.ldsp a2, 504(sp)
    RESULT c.ldsp.504, a2
    c.ldsp t3, 0(sp)
    RESULT c.ldsp.0, t3
    c.fldsp fa1, 496(sp)
    FRESULT c.fldsp.496, fa1
    c.fldsp ft7, 0(sp)
    FRESULT c.fldsp.0, ft7
    li a3, 0x0102030405060708
    c.swsp a3, 252(sp)
    c.sdsp a3, 496(sp)
    c.fsdsp fa1, 8(sp)
    c.fsdsp ft7, 480(sp)
    c.sdsp a3, 0(sp)
    c.swsp a3, 12(sp)
    ld t0, 248(sp)
    RESULT c.swsp.252, t0
    ld t0, 496(sp)
    RESULT c.sdsp.496, t0
    ld t0, 8(sp)
    RESULT c.fsdsp.8, t0
    ld t0, 480(sp)
    RESULT c.fsdsp.480, t0
    ld t0, 0(sp)
    RESULT c.sdsp.0, t0
    ld t0, 8(sp)
    RESULT c.swsp.12, t0

    /* c.addi4spn: rd' = sp + nzuimm */
    c.addi4spn a0, sp, 4
    sub a0, a0, sp
    RESULT c.addi4spn.4, a0
    c.addi4spn s1, sp, 1020
    sub s1, s1, sp
    RESULT c.addi4spn.1020, s1
    c.addi4spn a5, sp, 520
    sub a5, a5, sp
    RESULT c.addi4spn.520, a5

/* ---- control transfer ---- */
    li a0, 0
    c.j 2f
1:  addi a0, a0, 1
    c.j 3f
2:  addi a0, a0, 16
    c.j 1b
3:  RESULT c.j.fwd.back, a0

    /* c.j near its range (+-2 KiB) */
    li a0, 1
    c.j 4f
    .fill 1020, 2, 0x0001           /* c.nop */
    li a0, 2
4:  RESULT c.j.far, a0
    li a0, 0
    c.j 6f
5:  addi a0, a0, 5
    c.j 7f
    .fill 1015, 2, 0x0001
6:  c.j 5b
7:  RESULT c.j.far.back, a0

    li a0, 5
    li a1, 0
1:  addi a1, a1, 3
    addi a0, a0, -1
    c.bnez a0, 1b
    RESULT c.bnez.loop, a1
    li a2, 0
    li a0, 1
    c.beqz a0, 1f
    li a2, 1
1:  li a0, 0
    c.beqz a0, 1f
    ori a2, a2, 2
1:  c.bnez a0, 1f
    ori a2, a2, 4
1:  RESULT c.beqz.bnez, a2
    /* c.beqz/c.bnez near their range (+-256 bytes) */
    li a0, 0
    li a1, 0
    c.beqz a0, 1f
    .fill 124, 2, 0x0001
    li a1, 1
1:  RESULT c.beqz.far, a1
    li a0, 3
    li a1, 0
    c.j 2f
1:  li a1, 9
    c.j 3f
    .fill 120, 2, 0x0001
2:  c.bnez a0, 1b
3:  RESULT c.bnez.far.back, a1

    lla t0, 1f
    li a0, 7
    c.jr t0
    li a0, 8
1:  RESULT c.jr, a0
    lla t1, leaf
    c.jalr t1
2:  la t2, 2b
    sub a0, a0, t2
    RESULT c.jalr.link, a0
    RESULT c.jalr.value, a1
    /* c.jalr with ra as the target register */
    lla ra, leaf
    c.jalr ra
2:  la t2, 2b
    sub a0, a0, t2
    RESULT c.jalr.ra, a0

/* ---- print everything ---- */
    mv sp, s10
    addi sp, sp, 1024
    lla s0, results
    mv s1, s11
1:  bgeu s0, s1, 2f
    lla a0, fmt
    ld a1, 8(s0)
    ld a2, 0(s0)
    call printf
    addi s0, s0, 16
    j 1b
2:  li a0, 0
    call exit

/* Returns its return address in a0 and 0x77 in a1. */
leaf:
    mv a0, ra
    li a1, 0x77
    ret
    .size main, . - main

    .section .note.GNU-stack, "", @progbits
