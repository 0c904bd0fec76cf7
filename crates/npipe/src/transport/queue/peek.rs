//! Peeking (PeekNamedPipe, W82-W86): copying what a reader would get without consuming it,
//! the count of bytes available and the rest of the first message, and the end of the data
//! once the writer has closed (W113). Takes the reader lock like a read and moves nothing: it
//! shares the reader's view of the ring (`read`) and the withdrawal and dead-writer checks.

use super::read::View;
use super::*;

impl Conn {
    /// PeekNamedPipe's look ([`Conn::peek`]) and its verdict on a closed writer: `PeerClosed`
    /// (ERROR_BROKEN_PIPE) only when the writer's end had closed before the look and nothing is
    /// queued. The state is read first for the same reason as in [`Conn::found_nothing`]: a
    /// writer may publish a record and close right after the look, and a peek that then
    /// believed the close would report the end of the data while the record is there (W113);
    /// read before, a close is seen only together with everything published before it, and a
    /// later one leaves this peek an empty look that came first. The state is the one the look
    /// itself took ([`Conn::peek_closed`], under the reader lock): a close between an earlier
    /// load and the look could drop a write it left unfinished, and the peek would report an
    /// empty pipe that was never empty while the writer was open. A disconnect (or this end's
    /// close) during the look is still an error, as the peek of a dead link (W44).
    pub(crate) fn peek_at_close(
        &self,
        buf: Option<&mut [u8]>,
        message_type: bool,
    ) -> QResult<PeekOut> {
        self.link_check()?;
        // (The tests' hook between the look and this decision is in `peek_closed`.)
        let (p, closed) = self.peek_closed(buf, message_type)?;
        self.link_check()?;
        if closed && !p.queued {
            return Err(QErr::PeerClosed);
        }
        Ok(p)
    }

    /// Copies without consuming (PeekNamedPipe). On a message-type pipe at most the rest of the
    /// first message is copied (W84). Withdrawn records are skipped first.
    #[cfg(any(fuzzing, test))] // the fuzzing rig's peek; PeekNamedPipe is `peek_at_close`
    pub(crate) fn peek(&self, buf: Option<&mut [u8]>, message_type: bool) -> QResult<PeekOut> {
        self.peek_closed(buf, message_type).map(|(p, _)| p)
    }

    /// [`Conn::peek`], and whether the writer's end had closed (or the link had gone) before
    /// its look: the state is read first, so the cut at what a closed writer completed is
    /// made on a view that shows all of it (read after the view, a write completed and closed
    /// in between was cut off at the view's stale tail, a peek of nothing although the bytes
    /// were there before the close and after it, W92, W113), and a caller that reports the
    /// end of the data on it ([`Conn::peek_at_close`]) does so only for a look made after the
    /// close, not for one whose unfinished data the close dropped in between.
    fn peek_closed(
        &self,
        mut buf: Option<&mut [u8]>,
        message_type: bool,
    ) -> QResult<(PeekOut, bool)> {
        let dir = self.side.rx();
        let _g = self.lock_side(RX_LOCK, None, false)?;
        self.recheck_pending_last(dir, true)?;
        let gone = self.peer_gone()?;
        if gone {
            self.drop_dead_record(dir)?;
        }
        let v = self.skip_withdrawn(dir)?;
        let (avail, queued) = self.unread_rx()?;
        #[cfg(test)]
        close_race_tests::before_close_check();
        // With the writer gone, only what it completed is there to see.
        let (View { tail, head, left }, avail) = self.readable_after_close(dir, v, avail, gone)?;
        let mut pos = head;
        let mut rec_left = left;
        // Remaining length of the first message.
        let first_len = if left != AT_HEADER {
            left
        } else if tail >= self.hdr_pos(dir, head, tail)? + REC_HDR {
            self.record_at(dir, self.hdr_pos(dir, head, tail)?)?.0
        } else {
            0
        };
        let cap_len = buf.as_ref().map_or(0, |b| b.len()) as u64;
        let mut want = cap_len.min(avail);
        let msg_len = if message_type && avail > 0 {
            first_len
        } else {
            0
        };
        if message_type && avail > 0 {
            want = want.min(first_len);
        }
        let mut n = 0u64;
        while n < want {
            if rec_left == AT_HEADER || rec_left == 0 {
                let h = self.hdr_pos(dir, pos, tail)?;
                if tail < h + REC_HDR {
                    break;
                }
                let (len, flags) = self.record_at(dir, h)?;
                pos = h + REC_HDR;
                rec_left = len;
                if flags & FLAG_CUT != 0 {
                    // Withdrawn later in the queue: not part of what a reader will get.
                    pos = record_end(h, len).min(tail);
                    rec_left = 0;
                }
                continue;
            }
            let c = rec_left.min(tail.saturating_sub(pos)).min(want - n);
            if c == 0 {
                break;
            }
            if let Some(b) = buf.as_deref_mut() {
                self.copy_out(dir, pos, &mut b[n as usize..(n + c) as usize])?;
            }
            n += c;
            pos += c;
            rec_left -= c;
        }
        Ok((
            PeekOut {
                read: n as usize,
                avail,
                msg_len,
                queued,
            },
            gone,
        ))
    }
}
