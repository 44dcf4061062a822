//! The shape of a region's function: which blocks it can be entered at,
//! and which of its loops become wasm loops.
//!
//! A function's blocks are laid out in order (the entry first, then by
//! address). A jump to a later block is a plain `br`; a jump back goes
//! through the function's dispatch (a `br_table` at the top of one loop
//! around everything), which every entry uses too. That dispatch joins all
//! of the function's control flow at one point, so V8 sees no loop of the
//! guest's as a loop, keeps every register live across it and spills
//! them. An innermost loop that is entered only at its header becomes a
//! wasm `loop` of its own instead, and its back edges branch straight to
//! its top.
//!
//! A loop's inner blocks (all but the header) are then reachable only
//! from inside it, so they are not entries: the runtime can enter the
//! function only at blocks outside such loops (their headers included).
//! A block where code comes back from outside the function (the entry,
//! the return point of a call, the instruction after one left to the
//! interpreter) keeps its loop out of this shape.

use crate::region::{Region, Term};

/// How the function for a region is laid out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// The blocks (by index in the region) in the order their code is
    /// laid out: the region's order, but for loops turned round so that
    /// the block they are entered at comes first.
    pub order: Vec<usize>,
    /// For each block (by index in the region): its index in the
    /// function's dispatch, if the function can be entered there. The
    /// region's first block is always entry 0.
    pub entries: Vec<Option<u32>>,
    /// The wasm loops, as (first, last) positions in `order`: disjoint,
    /// in order. The first block is the loop's header.
    pub loops: Vec<(usize, usize)>,
}

impl Layout {
    /// The loop whose header is at position `at`, if any: its last
    /// position.
    pub fn loop_at(&self, at: usize) -> Option<usize> {
        self.loops.iter().find(|(h, _)| *h == at).map(|(_, t)| *t)
    }

    /// How many entries the dispatch has.
    pub fn entry_count(&self) -> u32 {
        self.entries.iter().flatten().count() as u32
    }
}

/// The blocks each block's code may go to inside the region: what
/// [`crate::emit`] branches to.
pub fn successors(region: &Region) -> Vec<Vec<usize>> {
    region
        .blocks
        .iter()
        .map(|b| {
            let mut to: Vec<usize> = match b.term {
                Term::Branch { taken, fall } => [taken, fall]
                    .iter()
                    .filter_map(|pc| region.block_at(*pc))
                    .collect(),
                Term::Jump { target } => region.block_at(target).into_iter().collect(),
                // a `jalr` compares its target with where it may go
                Term::Indirect => region
                    .indirect_targets(b)
                    .iter()
                    .filter_map(|pc| region.block_at(*pc))
                    .collect(),
                Term::Interpret { .. } => Vec::new(),
            };
            to.sort_unstable();
            to.dedup();
            to
        })
        .collect()
}

/// The blocks code comes back to from outside the function: the entry,
/// the code after a call (its callee returns there) and the code after an
/// instruction left to the interpreter.
fn reentered(region: &Region) -> Vec<bool> {
    let mut at: Vec<u64> = Vec::new();
    for b in &region.blocks {
        if let Some((pc, i)) = b.insts.last()
            && matches!(i.op, friscy_isa::Op::Jal | friscy_isa::Op::Jalr)
            && i.rd & 31 != 0
        {
            at.push(pc.wrapping_add(u64::from(i.len)));
        }
        if let Term::Interpret {
            resume: Some(next), ..
        } = b.term
        {
            at.push(next);
        }
    }
    region
        .blocks
        .iter()
        .enumerate()
        .map(|(k, b)| k == 0 || at.contains(&b.start))
        .collect()
}

/// Lays out `region`'s function (see the module docs).
pub fn layout(region: &Region) -> Layout {
    let n = region.blocks.len();
    let succ = successors(region);
    let reentered = reentered(region);
    // the last block that jumps back to each block (a loop's end)
    let mut tail: Vec<Option<usize>> = vec![None; n];
    for (k, to) in succ.iter().enumerate() {
        for &j in to {
            if j <= k {
                tail[j] = Some(tail[j].map_or(k, |t: usize| t.max(k)));
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    let mut loops = Vec::new();
    let mut done = 0;
    for h in 0..n {
        let Some(t) = tail[h] else { continue };
        if h < done {
            continue;
        }
        // the blocks code outside the loop goes to: its entry (the header
        // unless the loop was laid out with its test at the bottom and is
        // entered there)
        let mut entered: Vec<usize> = succ
            .iter()
            .enumerate()
            .filter(|(k, _)| !(h..=t).contains(k))
            .flat_map(|(_, to)| to.iter().copied().filter(|j| (h..=t).contains(j)))
            .collect();
        entered.sort_unstable();
        entered.dedup();
        let header = match entered[..] {
            [] => h,
            [e] => e,
            _ => continue,
        };
        let turned: Vec<usize> = (header..=t).chain(h..header).collect();
        if closed(&turned, &succ, &reentered) {
            order[h..=t].copy_from_slice(&turned);
            loops.push((h, t));
            done = t + 1;
        }
    }
    let inner = |at: usize| loops.iter().any(|&(h, t)| h < at && at <= t);
    let mut entries = vec![None; n];
    let mut next = 0u32;
    for (at, &k) in order.iter().enumerate() {
        if !inner(at) {
            entries[k] = Some(next);
            next += 1;
        }
    }
    Layout {
        order,
        entries,
        loops,
    }
}

/// Whether the blocks `body`, laid out in that order, make a wasm loop:
/// nothing but its first block is entered from outside it (checked by the
/// caller) or from outside the function, and every jump back inside it
/// goes to its first block (no other loop inside).
fn closed(body: &[usize], succ: &[Vec<usize>], reentered: &[bool]) -> bool {
    let at = |k: usize| body.iter().position(|&b| b == k);
    body[1..].iter().all(|&k| !reentered[k])
        && body.iter().enumerate().all(|(i, &k)| {
            succ[k]
                .iter()
                .filter_map(|&j| at(j))
                .all(|p| p > i || p == 0)
        })
}
