//! Finding a region: the blocks reachable from an entry point through
//! direct branches and jumps.

use std::collections::{BTreeMap, BTreeSet};

use friscy_isa::{Inst, Op, decode};

use crate::{Code, Limits};

/// How a block ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Term {
    /// A conditional branch: to `taken` or on to `fall`.
    Branch { taken: u64, fall: u64 },
    /// An unconditional move to `target` (a `jal`, whose link the block's
    /// last instruction writes, or the start of the next block).
    Jump { target: u64 },
    /// A `jalr`: the target is computed; leave the region.
    Indirect,
    /// The instruction at `pc` is not translated (or cannot be read):
    /// leave the region there, for the interpreter, which comes back at
    /// `resume` (the next instruction's pc; `None` when it cannot be read).
    Interpret { pc: u64, resume: Option<u64> },
}

/// A straight run of instructions and how it ends. A `Branch`, `Jump` by
/// `jal` and `Indirect` end with the instruction that decides them (the
/// last of `insts`).
#[derive(Clone, Debug)]
pub struct Block {
    pub start: u64,
    pub insts: Vec<(u64, Inst)>,
    pub term: Term,
}

/// The blocks of a region; the first starts at the entry.
#[derive(Clone, Debug)]
pub struct Region {
    pub blocks: Vec<Block>,
    /// Where a return may go that are blocks of the region: the return
    /// addresses of its calls (when their callees are in it). A return to
    /// one of them stays in the region.
    pub returns: Vec<u64>,
    /// Where another indirect jump (not a call) may go that are blocks of
    /// the region: the targets of its jump tables.
    pub jumps: Vec<u64>,
    /// Where the region would have gone on but for its limits (a function
    /// translated ahead of time leaves these to functions of their own).
    pub cut: Vec<u64>,
}

impl Region {
    /// The index of the block that starts at `pc`, if the region has one.
    pub fn block_at(&self, pc: u64) -> Option<usize> {
        self.blocks.iter().position(|b| b.start == pc)
    }

    /// Where the indirect jump that ends `b` may go inside the region:
    /// [`Region::returns`] for a return, [`Region::jumps`] for another
    /// jump, nothing for a call or a block that does not end in one.
    pub fn indirect_targets(&self, b: &Block) -> &[u64] {
        match b.insts.last() {
            Some((_, i)) if b.term == Term::Indirect && i.rd & 31 == 0 => {
                if i.rs1 & 31 == RA {
                    &self.returns
                } else {
                    &self.jumps
                }
            }
            _ => &[],
        }
    }

    /// The addresses the region's code comes from: [lowest, end of the
    /// highest instruction).
    pub fn span(&self) -> (u64, u64) {
        let all = self.blocks.iter().flat_map(|b| b.insts.iter());
        let lo = all.clone().map(|(pc, _)| *pc).min().unwrap_or(0);
        let hi = all
            .map(|(pc, i)| pc.wrapping_add(u64::from(i.len)))
            .max()
            .unwrap_or(0);
        (lo, hi)
    }
}

/// Reads and decodes the instruction at `pc`.
fn fetch(code: &mut dyn Code, pc: u64) -> Option<Inst> {
    if pc & 1 != 0 {
        return None;
    }
    let lo = code.fetch_u16(pc)?;
    let raw = if lo & 3 != 3 {
        u32::from(lo)
    } else {
        u32::from(lo) | (u32::from(code.fetch_u16(pc.wrapping_add(2))?) << 16)
    };
    decode(raw).ok()
}

/// `ra`: a `jalr` through it is a return.
const RA: u8 = 1;

fn is_branch(op: Op) -> bool {
    matches!(
        op,
        Op::Beq | Op::Bne | Op::Blt | Op::Bge | Op::Bltu | Op::Bgeu
    )
}

/// Decodes the straight run from `pc` until a control transfer, an
/// instruction this tier does not translate, the start of a known block or
/// `room` instructions.
fn scan(code: &mut dyn Code, pc: u64, starts: &BTreeSet<u64>, room: usize) -> Block {
    let mut insts = Vec::new();
    let mut cur = pc;
    loop {
        if !insts.is_empty() && starts.contains(&cur) {
            return Block {
                start: pc,
                insts,
                term: Term::Jump { target: cur },
            };
        }
        if insts.len() >= room {
            return Block {
                start: pc,
                insts,
                term: Term::Jump { target: cur },
            };
        }
        let Some(inst) = fetch(code, cur) else {
            return Block {
                start: pc,
                insts,
                term: Term::Interpret {
                    pc: cur,
                    resume: None,
                },
            };
        };
        if !crate::emit::supported(&inst) {
            return Block {
                start: pc,
                insts,
                term: Term::Interpret {
                    pc: cur,
                    resume: Some(cur.wrapping_add(u64::from(inst.len))),
                },
            };
        }
        let next = cur.wrapping_add(u64::from(inst.len));
        let op = inst.op;
        let imm = inst.imm as u64;
        insts.push((cur, inst));
        if is_branch(op) {
            return Block {
                start: pc,
                insts,
                term: Term::Branch {
                    taken: cur.wrapping_add(imm),
                    fall: next,
                },
            };
        }
        match op {
            Op::Jal => {
                return Block {
                    start: pc,
                    insts,
                    term: Term::Jump {
                        target: cur.wrapping_add(imm),
                    },
                };
            }
            Op::Jalr => {
                return Block {
                    start: pc,
                    insts,
                    term: Term::Indirect,
                };
            }
            _ => {}
        }
        cur = next;
    }
}

/// The return address of `b`'s call, if it ends in one (a `jal` that
/// links).
fn call_return(b: &Block) -> Option<u64> {
    let (pc, i) = b.insts.last()?;
    (i.op == Op::Jal && i.rd != 0).then(|| pc.wrapping_add(u64::from(i.len)))
}

/// Where control goes next from `b`, within the region: the code a call
/// returns to, and the callee too if `calls`.
fn successors(b: &Block, calls: bool) -> Vec<u64> {
    match b.term {
        Term::Branch { taken, fall } => vec![taken, fall],
        Term::Jump { target } => match call_return(b) {
            Some(back) if calls => vec![target, back],
            Some(back) => vec![back],
            None => vec![target],
        },
        // an indirect call comes back after itself
        Term::Indirect if !calls => b
            .insts
            .last()
            .filter(|(_, i)| i.rd != 0)
            .map(|(pc, i)| vec![pc.wrapping_add(u64::from(i.len))])
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// The region from `entry`; `None` when its first instruction cannot be
/// translated.
pub fn discover(code: &mut dyn Code, entry: u64, limits: Limits) -> Option<Region> {
    discover_in(code, entry, limits, true, &BTreeSet::new(), &[])
}

/// The region from `entry`, following calls into their callees if
/// `calls`, and never making a block at a pc of `others` (where other
/// regions start: going there leaves this one). An indirect jump that is
/// not a return may go to any of `jumps` (the targets of its jump tables).
pub fn discover_in(
    code: &mut dyn Code,
    entry: u64,
    limits: Limits,
    calls: bool,
    others: &BTreeSet<u64>,
    jumps: &[u64],
) -> Option<Region> {
    let first = fetch(code, entry)?;
    if !crate::emit::supported(&first) {
        return None;
    }
    let mut blocks: BTreeMap<u64, Block> = BTreeMap::new();
    let mut starts: BTreeSet<u64> = BTreeSet::new();
    let mut work = vec![entry];
    let mut insts = 0usize;
    // instructions left to the interpreter, seen already
    let mut skipped: BTreeSet<u64> = BTreeSet::new();
    let mut cut = Vec::new();
    while let Some(pc) = work.pop() {
        if starts.contains(&pc) || (pc != entry && others.contains(&pc)) {
            continue;
        }
        if blocks.len() >= limits.max_blocks {
            cut.push(pc);
            continue;
        }
        // a target inside a known block splits it there
        let holder = blocks
            .range(..pc)
            .next_back()
            .filter(|(_, b)| b.insts.iter().any(|(p, _)| *p == pc))
            .map(|(s, _)| *s);
        if let Some(s) = holder {
            let b = blocks.get_mut(&s).expect("found above");
            let at = b
                .insts
                .iter()
                .position(|(p, _)| *p == pc)
                .expect("found above");
            let tail = b.insts.split_off(at);
            let term = std::mem::replace(&mut b.term, Term::Jump { target: pc });
            starts.insert(pc);
            blocks.insert(
                pc,
                Block {
                    start: pc,
                    insts: tail,
                    term,
                },
            );
            continue;
        }
        let room = limits.max_insts.saturating_sub(insts);
        if room == 0 {
            cut.push(pc);
            continue;
        }
        // a target that is not code (or not translated) is left to the
        // dispatcher: no block for it
        if pc != entry {
            match fetch(code, pc) {
                None => continue,
                Some(i) if !crate::emit::supported(&i) => {
                    // ahead of time, the code after it is the function's
                    if !calls && skipped.insert(pc) {
                        work.push(pc.wrapping_add(u64::from(i.len)));
                    }
                    continue;
                }
                Some(_) => {}
            }
        }
        let b = scan(code, pc, &starts, room);
        if b.insts.is_empty() {
            continue;
        }
        insts += b.insts.len();
        starts.insert(pc);
        work.extend(successors(&b, calls).into_iter().rev());
        if b.term == Term::Indirect
            && b.insts
                .last()
                .is_some_and(|(_, i)| i.rd == 0 && i.rs1 != RA)
        {
            work.extend(jumps.iter().rev());
        }
        // ahead of time (not following calls), the code after an
        // instruction left to the interpreter is part of the function too:
        // the interpreter comes back to it
        if !calls
            && let Term::Interpret {
                resume: Some(next), ..
            } = b.term
        {
            work.push(next);
        }
        blocks.insert(pc, b);
    }
    let mut list: Vec<Block> = Vec::with_capacity(blocks.len());
    if let Some(b) = blocks.remove(&entry) {
        list.push(b);
    }
    list.extend(blocks.into_values());
    // a return to one of the region's calls stays in it when the callee
    // is in the region too: every callee when calls are followed, else a
    // call of the region's own code (a function calling itself, as a
    // recursive one does: its returns then go round inside the function
    // instead of leaving it and coming back through the link table)
    let mut returns: Vec<u64> = list
        .iter()
        .filter(|b| calls || matches!(b.term, Term::Jump { target } if starts.contains(&target)))
        .filter_map(call_return)
        .filter(|back| starts.contains(back))
        .collect();
    returns.sort_unstable();
    returns.dedup();
    let mut jumps: Vec<u64> = jumps
        .iter()
        .copied()
        .filter(|pc| starts.contains(pc))
        .collect();
    jumps.sort_unstable();
    jumps.dedup();
    cut.retain(|pc| !starts.contains(pc));
    Some(Region {
        blocks: list,
        returns,
        jumps,
        cut,
    })
}
