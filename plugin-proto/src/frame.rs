//! Frames: `u32 header_len, u32 payload_len` (big-endian), a JSON object, then raw bytes.

use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest header a frame may carry.
pub const MAX_HEADER: usize = 1 << 20;
/// The largest payload a frame may carry.
pub const MAX_PAYLOAD: usize = 16 << 20;

/// One frame: a JSON object and the bytes that go with it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    /// The header.
    pub header: Map<String, Value>,
    /// The payload (file content), often empty.
    pub payload: Bytes,
}

impl Frame {
    /// A frame of `header` (which must be a JSON object) and no payload.
    pub fn new(header: Value) -> Self {
        Frame {
            header: match header {
                Value::Object(m) => m,
                _ => Map::new(),
            },
            payload: Bytes::new(),
        }
    }

    /// This frame with `payload`.
    pub fn with_payload(mut self, payload: Bytes) -> Self {
        self.payload = payload;
        self
    }
}

/// Why a frame could not be read or written: the channel is then unusable.
#[derive(Debug)]
pub enum FrameError {
    /// The stream ended cleanly before a frame began.
    Closed,
    /// I/O failed or the stream ended inside a frame.
    Io(std::io::Error),
    /// A frame broke the rules (a length past its limit, a header that is not a JSON object).
    Malformed(String),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Closed => f.write_str("the plugin closed its channel"),
            FrameError::Io(e) => write!(f, "the plugin's channel failed: {e}"),
            FrameError::Malformed(why) => write!(f, "the plugin sent a malformed frame: {why}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Reads one frame.
///
/// # Errors
/// [`FrameError::Closed`] at a clean end of stream; the others when the stream breaks the rules.
pub async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> Result<Frame, FrameError> {
    let mut lens = [0u8; 8];
    match r.read_exact(&mut lens[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Err(FrameError::Closed),
        Err(e) => return Err(FrameError::Io(e)),
    }
    r.read_exact(&mut lens[1..]).await.map_err(FrameError::Io)?;
    let header_len = u32::from_be_bytes([lens[0], lens[1], lens[2], lens[3]]) as usize;
    let payload_len = u32::from_be_bytes([lens[4], lens[5], lens[6], lens[7]]) as usize;
    if header_len > MAX_HEADER {
        return Err(FrameError::Malformed(format!(
            "a header of {header_len} bytes (at most {MAX_HEADER})"
        )));
    }
    if payload_len > MAX_PAYLOAD {
        return Err(FrameError::Malformed(format!(
            "a payload of {payload_len} bytes (at most {MAX_PAYLOAD})"
        )));
    }
    let mut header = vec![0u8; header_len];
    r.read_exact(&mut header).await.map_err(FrameError::Io)?;
    let header = match serde_json::from_slice(&header) {
        Ok(Value::Object(m)) => m,
        Ok(_) => {
            return Err(FrameError::Malformed(
                "a header that is not a JSON object".into(),
            ));
        }
        Err(e) => {
            return Err(FrameError::Malformed(format!(
                "a header that is not JSON: {e}"
            )));
        }
    };
    // Read into spare capacity: a large payload is not zeroed first.
    let mut payload = BytesMut::with_capacity(payload_len);
    while payload.len() < payload_len {
        let want = payload_len - payload.len();
        let n = r
            .take(want as u64)
            .read_buf(&mut payload)
            .await
            .map_err(FrameError::Io)?;
        if n == 0 {
            return Err(FrameError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
    Ok(Frame {
        header,
        payload: payload.freeze(),
    })
}

/// Writes one frame (and flushes it).
///
/// # Errors
/// I/O errors; `Malformed` for a header or payload past its limit (nothing is written then).
pub async fn write_frame(
    w: &mut (impl AsyncWrite + Unpin),
    frame: &Frame,
) -> Result<(), FrameError> {
    write_frames(w, std::slice::from_ref(frame)).await
}

/// A payload up to this size is copied next to its header, so a batch of small frames is one
/// write; a larger one is written from its own buffer, uncopied.
const INLINE: usize = 64 << 10;

/// Writes `frames` back to back with as few writes as it can (one for a batch of small frames),
/// then flushes.
///
/// # Errors
/// I/O errors; `Malformed` for a header or payload past its limit (nothing of that frame or the
/// ones after it is written then).
pub async fn write_frames(
    w: &mut (impl AsyncWrite + Unpin),
    frames: &[Frame],
) -> Result<(), FrameError> {
    let mut buf = Vec::new();
    for frame in frames {
        let header = serde_json::to_vec(&frame.header)
            .map_err(|e| FrameError::Malformed(format!("cannot encode the header: {e}")))?;
        if header.len() > MAX_HEADER || frame.payload.len() > MAX_PAYLOAD {
            return Err(FrameError::Malformed(format!(
                "a frame of {} + {} bytes is past the limits",
                header.len(),
                frame.payload.len()
            )));
        }
        buf.extend_from_slice(&(header.len() as u32).to_be_bytes());
        buf.extend_from_slice(&(frame.payload.len() as u32).to_be_bytes());
        buf.extend_from_slice(&header);
        if frame.payload.len() <= INLINE {
            buf.extend_from_slice(&frame.payload);
        } else {
            w.write_all(&buf).await.map_err(FrameError::Io)?;
            buf.clear();
            w.write_all(&frame.payload).await.map_err(FrameError::Io)?;
        }
    }
    if !buf.is_empty() {
        w.write_all(&buf).await.map_err(FrameError::Io)?;
    }
    w.flush().await.map_err(FrameError::Io)
}

/// Receives the next frame from `queue`, plus those already waiting behind it (at most
/// `max`): a writer sends them in one go. `None` when the queue is closed and empty.
pub async fn next_batch(
    queue: &mut tokio::sync::mpsc::Receiver<Frame>,
    max: usize,
) -> Option<Vec<Frame>> {
    let first = queue.recv().await?;
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(f) => batch.push(f),
            Err(_) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn frames_round_trip_and_bad_ones_are_named() {
        let (mut a, mut b) = tokio::io::duplex(1 << 16);
        let f = Frame::new(json!({"id": 1, "op": "read"})).with_payload(Bytes::from_static(b"abc"));
        write_frame(&mut a, &f).await.unwrap();
        assert_eq!(read_frame(&mut b).await.unwrap(), f);
        drop(a);
        assert!(matches!(read_frame(&mut b).await, Err(FrameError::Closed)));

        for (bytes, says) in [
            (vec![0, 0x20, 0, 1, 0, 0, 0, 0], "header of"),
            (vec![0, 0, 0, 1, 0x7f, 0, 0, 0, b'{'], "payload of"),
            (
                vec![0, 0, 0, 2, 0, 0, 0, 0, b'[', b']'],
                "not a JSON object",
            ),
            (vec![0, 0, 0, 9, 0, 0, 0, 0, b'{'], "channel failed"),
        ] {
            let mut r = &bytes[..];
            let e = read_frame(&mut r).await.unwrap_err().to_string();
            assert!(e.contains(says), "{e}");
        }
    }
}
