/* bytecode: a small stack-machine interpreter loop (own code).
 *
 * The guest program, assembled at start-up, computes for i = 1..N the
 * length of the Collatz sequence of i (capped at 300 steps) and folds the
 * lengths into a 64-bit hash.  The interpreter is a classic
 * fetch/switch/dispatch loop over 32-bit instruction words, so this kernel
 * measures an interpreter running inside the emulator: indirect jumps,
 * unpredictable branches, and stack loads/stores.
 * Usage: bytecode [N]   (default see DEFAULT_N)
 * Prints: bytecode n=N ops=... total=... hash=...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_N 40000

enum op {
    OP_HALT, OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_MUL, OP_AND,
    OP_XOR, OP_SHL, OP_SHR, OP_LT, OP_EQ, OP_JZ, OP_JMP, OP_DUP, OP_DROP, OP_INC,
};

static int32_t code[256];
static int pc_asm;

static void emit(int32_t w) { code[pc_asm++] = w; }
static void emit2(enum op o, int32_t arg) { emit(o); emit(arg); }

/* locals */
enum { L_I, L_N, L_X, L_STEPS, L_HASH, L_TOTAL, NLOCALS };

static void assemble(void)
{
    /* i = 1; hash = 0; total = 0 */
    emit2(OP_PUSH, 1); emit2(OP_STORE, L_I);
    emit2(OP_PUSH, 0); emit2(OP_STORE, L_HASH);
    emit2(OP_PUSH, 0); emit2(OP_STORE, L_TOTAL);
    int outer = pc_asm;
    /* if !(i < n + 1) goto end */
    emit2(OP_LOAD, L_I); emit2(OP_LOAD, L_N); emit2(OP_PUSH, 1); emit(OP_ADD); emit(OP_LT);
    emit(OP_JZ); int patch_end = pc_asm; emit(0);
    /* x = i; steps = 0 */
    emit2(OP_LOAD, L_I); emit2(OP_STORE, L_X);
    emit2(OP_PUSH, 0); emit2(OP_STORE, L_STEPS);
    int inner = pc_asm;
    /* if x == 1 goto done */
    emit2(OP_LOAD, L_X); emit2(OP_PUSH, 1); emit(OP_EQ);
    emit(OP_JZ); int patch_cont = pc_asm; emit(0);
    emit(OP_JMP); int patch_done1 = pc_asm; emit(0);
    code[patch_cont] = pc_asm;
    /* if !(steps < 300) goto done */
    emit2(OP_LOAD, L_STEPS); emit2(OP_PUSH, 300); emit(OP_LT);
    emit(OP_JZ); int patch_done2 = pc_asm; emit(0);
    /* if (x & 1) == 0 goto even */
    emit2(OP_LOAD, L_X); emit2(OP_PUSH, 1); emit(OP_AND);
    emit(OP_JZ); int patch_even = pc_asm; emit(0);
    /* x = 3x + 1 */
    emit2(OP_LOAD, L_X); emit(OP_DUP); emit(OP_ADD); emit2(OP_LOAD, L_X); emit(OP_ADD);
    emit2(OP_PUSH, 1); emit(OP_ADD); emit2(OP_STORE, L_X);
    emit(OP_JMP); int patch_next = pc_asm; emit(0);
    code[patch_even] = pc_asm;
    /* x = x >> 1 */
    emit2(OP_LOAD, L_X); emit2(OP_SHR, 1); emit2(OP_STORE, L_X);
    code[patch_next] = pc_asm;
    emit2(OP_INC, L_STEPS);
    emit2(OP_JMP, inner);
    int done = pc_asm;
    code[patch_done1] = done;
    code[patch_done2] = done;
    /* hash = (hash ^ steps) * 0x100000001b3; total = total + steps; i++ */
    emit2(OP_LOAD, L_HASH); emit2(OP_LOAD, L_STEPS); emit(OP_XOR);
    emit2(OP_PUSH, 1); emit2(OP_SHL, 40); emit2(OP_PUSH, 0x1b3); emit(OP_ADD); /* 64-bit FNV prime */
    emit(OP_MUL); emit2(OP_STORE, L_HASH);
    emit2(OP_LOAD, L_TOTAL); emit2(OP_LOAD, L_STEPS); emit(OP_ADD); emit2(OP_STORE, L_TOTAL);
    emit2(OP_INC, L_I);
    emit2(OP_JMP, outer);
    code[patch_end] = pc_asm;
    emit(OP_HALT);
}

static uint64_t run(int64_t *locals, uint64_t *executed)
{
    int64_t stack[64];
    int sp = 0;
    int pc = 0;
    uint64_t count = 0;
    for (;;) {
        int32_t op = code[pc++];
        count++;
        switch (op) {
        case OP_HALT: *executed = count; return (uint64_t)sp;
        case OP_PUSH: stack[sp++] = code[pc++]; break;
        case OP_LOAD: stack[sp++] = locals[code[pc++]]; break;
        case OP_STORE: locals[code[pc++]] = stack[--sp]; break;
        case OP_ADD: sp--; stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] + (uint64_t)stack[sp]); break;
        case OP_SUB: sp--; stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] - (uint64_t)stack[sp]); break;
        case OP_MUL: sp--; stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] * (uint64_t)stack[sp]); break;
        case OP_AND: sp--; stack[sp - 1] &= stack[sp]; break;
        case OP_XOR: sp--; stack[sp - 1] ^= stack[sp]; break;
        case OP_SHL: stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] << code[pc++]); break;
        case OP_SHR: stack[sp - 1] = (int64_t)((uint64_t)stack[sp - 1] >> code[pc++]); break;
        case OP_LT: sp--; stack[sp - 1] = stack[sp - 1] < stack[sp]; break;
        case OP_EQ: sp--; stack[sp - 1] = stack[sp - 1] == stack[sp]; break;
        case OP_JZ: { int32_t t = code[pc++]; if (stack[--sp] == 0) pc = t; break; }
        case OP_JMP: pc = code[pc]; break;
        case OP_DUP: stack[sp] = stack[sp - 1]; sp++; break;
        case OP_DROP: sp--; break;
        case OP_INC: locals[code[pc++]]++; break;
        default:
            fprintf(stderr, "bytecode: bad opcode %d at %d\n", op, pc - 1);
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_N;
    int64_t locals[NLOCALS] = {0};
    uint64_t executed = 0;
    assemble();
    locals[L_N] = n;
    uint64_t depth = run(locals, &executed);
    if (depth != 0) {
        fprintf(stderr, "bytecode: stack not empty at halt (%llu)\n", (unsigned long long)depth);
        return 1;
    }
    printf("bytecode n=%ld ops=%llu total=%lld hash=%016llx\n", n, (unsigned long long)executed,
           (long long)locals[L_TOTAL], (unsigned long long)locals[L_HASH]);
    return 0;
}
