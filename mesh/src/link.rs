//! Simulated network links for the memory transport: per-link latency and
//! loss, so the simulator can put a WAN between in-process nodes.
//!
//! The memory transport carries reliable byte streams, as TCP and QUIC do, so
//! loss is modelled the way it reaches the node over those: a lost segment is
//! retransmitted after a timeout, and everything written after it on the same
//! connection waits behind it (head-of-line blocking). Dropping bytes instead
//! would corrupt Noise, not model a network.
//!
//! Only the dialing side of a connection delays, both ways: each connection
//! has exactly one dialer, so every byte crosses the link's latency once.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures::channel::mpsc;
use futures::io::{AsyncRead, AsyncWrite};
use futures::{AsyncReadExt as _, AsyncWriteExt as _, SinkExt as _, StreamExt as _};
use libp2p::Multiaddr;
use libp2p::core::transport::memory::Channel;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::time::Instant;

/// What one link does to the bytes crossing it, each way.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// One-way delay.
    pub latency: Duration,
    /// Probability (0..=1) that a written segment is lost and must be retransmitted.
    pub loss: f64,
    /// Seed of the link's loss draws.
    pub seed: u64,
}

impl Link {
    /// A link that neither delays nor loses.
    pub const PERFECT: Link = Link {
        latency: Duration::ZERO,
        loss: 0.0,
        seed: 0,
    };

    /// The first retransmission timeout: Linux's minimum RTO, or three round
    /// trips on a slow link.
    fn rto(&self) -> Duration {
        (self.latency * 6).max(Duration::from_millis(200))
    }
}

/// Retransmissions of one segment before it gets through anyway (a real
/// stack would reset the connection; the simulator keeps it).
const RETRANSMITS_MAX: u32 = 6;

/// Tells the memory transport which link a dial goes over.
pub trait Links: Send + Sync + fmt::Debug {
    /// The link from this node to the listener at `dialed`.
    fn link(&self, dialed: &Multiaddr) -> Link;
}

/// One direction of a link: when each segment comes out.
struct Wire {
    link: Link,
    rng: StdRng,
    last: Instant,
}

impl Wire {
    fn new(link: Link, direction: u64) -> Wire {
        Wire {
            link,
            rng: StdRng::seed_from_u64(link.seed ^ direction),
            last: Instant::now(),
        }
    }

    /// When a segment sent at `sent` arrives: after the latency, plus a
    /// doubling timeout per loss, and never before the segment ahead of it.
    fn due(&mut self, sent: Instant) -> Instant {
        let mut due = sent + self.link.latency;
        let mut rto = self.link.rto();
        for _ in 0..RETRANSMITS_MAX {
            if !self.rng.random_bool(self.link.loss.clamp(0.0, 1.0)) {
                break;
            }
            due += rto;
            rto *= 2;
        }
        self.last = self.last.max(due);
        self.last
    }
}

/// A memory-transport connection, direct or through a simulated link.
pub enum LinkIo {
    /// As the memory transport made it.
    Direct(Channel<Vec<u8>>),
    /// Through a link.
    Delayed(Box<Delayed>),
}

/// The application side of a delayed connection. Yamux's stream windows
/// bound the bytes in flight, so the queues need no bound of their own.
pub struct Delayed {
    out: Option<mpsc::UnboundedSender<(Instant, Vec<u8>)>>,
    inbound: mpsc::UnboundedReceiver<Vec<u8>>,
    reading: Vec<u8>,
    offset: usize,
}

impl LinkIo {
    /// Wraps a dialed connection in `link` (direct when `link` is perfect).
    /// Must be called on a tokio runtime: three tasks carry the bytes.
    pub fn new(inner: Channel<Vec<u8>>, link: Link) -> LinkIo {
        if link == Link::PERFECT {
            return LinkIo::Direct(inner);
        }
        let (mut rd, mut wr) = inner.split();
        let (out, mut out_rx) = mpsc::unbounded::<(Instant, Vec<u8>)>();
        let (mut arrived, mut arrived_rx) = mpsc::unbounded::<(Instant, Vec<u8>)>();
        let (mut deliver, inbound) = mpsc::unbounded::<Vec<u8>>();
        tokio::spawn(async move {
            let mut wire = Wire::new(link, 0);
            while let Some((sent, segment)) = out_rx.next().await {
                tokio::time::sleep_until(wire.due(sent)).await;
                if wr.write_all(&segment).await.is_err() {
                    return;
                }
            }
            let _ = wr.close().await;
        });
        // Stamped as it arrives, released when due: stamping and waiting in
        // one task would make every segment wait for the one before it twice.
        tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 1024];
            while let Ok(n @ 1..) = rd.read(&mut buf).await {
                if arrived.send((Instant::now(), buf[..n].to_vec())).await.is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            let mut wire = Wire::new(link, 1);
            while let Some((sent, segment)) = arrived_rx.next().await {
                tokio::time::sleep_until(wire.due(sent)).await;
                if deliver.send(segment).await.is_err() {
                    return;
                }
            }
        });
        LinkIo::Delayed(Box::new(Delayed {
            out: Some(out),
            inbound,
            reading: Vec::new(),
            offset: 0,
        }))
    }
}

/// Links as a function of the dialed address.
pub struct LinksFn<F>(pub F);

impl<F> fmt::Debug for LinksFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinksFn")
    }
}

impl<F: Fn(&Multiaddr) -> Link + Send + Sync> Links for LinksFn<F> {
    fn link(&self, dialed: &Multiaddr) -> Link {
        (self.0)(dialed)
    }
}

/// Shared links, as the mesh configuration holds them.
pub type SharedLinks = Arc<dyn Links>;

impl AsyncRead for LinkIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkIo::Direct(c) => Pin::new(c).poll_read(cx, buf),
            LinkIo::Delayed(d) => {
                if d.offset == d.reading.len() {
                    match ready!(d.inbound.poll_next_unpin(cx)) {
                        Some(segment) => {
                            d.reading = segment;
                            d.offset = 0;
                        }
                        None => return Poll::Ready(Ok(0)),
                    }
                }
                let n = buf.len().min(d.reading.len() - d.offset);
                buf[..n].copy_from_slice(&d.reading[d.offset..d.offset + n]);
                d.offset += n;
                Poll::Ready(Ok(n))
            }
        }
    }
}

impl AsyncWrite for LinkIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            LinkIo::Direct(c) => Pin::new(c).poll_write(cx, buf),
            LinkIo::Delayed(d) => {
                let closed = || io::Error::new(io::ErrorKind::BrokenPipe, "link closed");
                let out = d.out.as_ref().ok_or_else(closed)?;
                out.unbounded_send((Instant::now(), buf.to_vec()))
                    .map_err(|_| closed())?;
                Poll::Ready(Ok(buf.len()))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkIo::Direct(c) => Pin::new(c).poll_flush(cx),
            // Bytes are on the wire once written; the link decides when they land.
            LinkIo::Delayed(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            LinkIo::Direct(c) => Pin::new(c).poll_close(cx),
            LinkIo::Delayed(d) => {
                // The writer task drains what is queued, then closes the stream.
                d.out = None;
                Poll::Ready(Ok(()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(latency_ms: u64, loss: f64) -> Link {
        Link {
            latency: Duration::from_millis(latency_ms),
            loss,
            seed: 7,
        }
    }

    #[test]
    fn a_segment_arrives_after_the_latency_and_never_before_the_one_ahead() {
        let start = Instant::now();
        let mut wire = Wire::new(link(40, 0.0), 0);
        assert_eq!(wire.due(start), start + Duration::from_millis(40));
        // Sent earlier than the last one's due time minus the latency: waits behind it.
        let late = wire.due(start + Duration::from_millis(100));
        assert_eq!(late, start + Duration::from_millis(140));
        assert_eq!(wire.due(start + Duration::from_millis(10)), late);
    }

    #[test]
    fn a_lost_segment_waits_for_doubling_retransmission_timeouts() {
        let start = Instant::now();
        let mut always = Wire::new(link(10, 1.0), 0);
        // 10 ms + 200 + 400 + 800 + 1600 + 3200 + 6400 ms: six retransmissions, then through.
        assert_eq!(always.due(start), start + Duration::from_millis(10 + 200 * 63));
        let mut some = Wire::new(link(10, 0.3), 0);
        let delays: Vec<Duration> = (0..1000)
            .map(|i| some.due(start + Duration::from_secs(i * 100)) - start - Duration::from_secs(i * 100))
            .collect();
        let lost = delays.iter().filter(|d| **d > Duration::from_millis(10)).count();
        // 30% of segments lost at least once (binomial, 1000 draws: well inside 200..400).
        assert!((200..400).contains(&lost), "{lost} of 1000 segments lost at 30% loss");
    }
}
