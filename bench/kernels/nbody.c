/* nbody: double-precision gravitational N-body integration (own code).
 *
 * Twelve bodies with pseudo-random (fixed-seed) masses, positions and
 * velocities, pairwise softened gravity, symplectic Euler steps.  Measures
 * FP add/mul/div/sqrt and loads/stores of doubles.
 * The arithmetic is written so that results are bit-identical across ISAs:
 * build with -ffp-contract=off (no fused multiply-add), which scripts/bench
 * does; the pragma below requests the same from GCC.
 * Usage: nbody [STEPS]   (default see DEFAULT_STEPS)
 * Prints: nbody steps=N energy0=... energy=... px=...
 */
#pragma GCC optimize("fp-contract=off")
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define DEFAULT_STEPS 150000
#define NB 12

struct body {
    double x, y, z, vx, vy, vz, m;
};
static struct body b[NB];

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) /* splitmix64 -> [0,1) with 53 bits */
{
    uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

static const double G = 1.0, SOFT = 1e-3, DT = 1e-4;

static void init(void)
{
    b[0] = (struct body){0, 0, 0, 0, 0, 0, 1000.0}; /* a heavy "sun" */
    for (int i = 1; i < NB; i++) {
        double r = 1.0 + 9.0 * urand();
        /* direction in the plane without libm trig (only sqrt, which is
         * correctly rounded everywhere) */
        double ux = urand() - 0.5, uy = urand() - 0.5;
        double un = sqrt(ux * ux + uy * uy) + 1e-9;
        double c = ux / un, sn = uy / un;
        double h = 0.2 * (urand() - 0.5);
        double v = sqrt(G * b[0].m / r);
        b[i].x = r * c;
        b[i].y = r * sn;
        b[i].z = h;
        b[i].vx = -v * sn;
        b[i].vy = v * c;
        b[i].vz = 0.05 * (urand() - 0.5);
        b[i].m = 0.01 + urand();
    }
    /* move to the centre-of-momentum frame */
    double px = 0, py = 0, pz = 0, mt = 0;
    for (int i = 0; i < NB; i++) {
        px += b[i].m * b[i].vx;
        py += b[i].m * b[i].vy;
        pz += b[i].m * b[i].vz;
        mt += b[i].m;
    }
    for (int i = 0; i < NB; i++) {
        b[i].vx -= px / mt;
        b[i].vy -= py / mt;
        b[i].vz -= pz / mt;
    }
}

static void step(void)
{
    for (int i = 0; i < NB; i++) {
        for (int j = i + 1; j < NB; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            double d2 = dx * dx + dy * dy + dz * dz + SOFT * SOFT;
            double mag = DT / (d2 * sqrt(d2));
            double mi = b[i].m * mag, mj = b[j].m * mag;
            b[i].vx -= dx * mj;
            b[i].vy -= dy * mj;
            b[i].vz -= dz * mj;
            b[j].vx += dx * mi;
            b[j].vy += dy * mi;
            b[j].vz += dz * mi;
        }
    }
    for (int i = 0; i < NB; i++) {
        b[i].x += DT * b[i].vx;
        b[i].y += DT * b[i].vy;
        b[i].z += DT * b[i].vz;
    }
}

static double energy(void)
{
    double e = 0;
    for (int i = 0; i < NB; i++) {
        e += 0.5 * b[i].m * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
        for (int j = i + 1; j < NB; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            e -= G * b[i].m * b[j].m / sqrt(dx * dx + dy * dy + dz * dz + SOFT * SOFT);
        }
    }
    return e;
}

int main(int argc, char **argv)
{
    long steps = argc > 1 ? strtol(argv[1], NULL, 10) : DEFAULT_STEPS;
    init();
    double e0 = energy();
    for (long s = 0; s < steps; s++)
        step();
    double e1 = energy(), sx = 0;
    for (int i = 0; i < NB; i++)
        sx += b[i].x + 2.0 * b[i].y + 3.0 * b[i].z;
    /* %a prints the exact bits: any rounding difference shows up */
    printf("nbody steps=%ld energy0=%.10f energy=%.10f pos=%a\n", steps, e0, e1, sx);
    return 0;
}
