//! Parts of the high-availability test: `mxgate serve` processes, a loopback
//! L4 balancer in front of them, and the federation traffic sent through it.

pub mod balancer;
pub mod instance;
pub mod traffic;
