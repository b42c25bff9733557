//! Redirections: `>`, `>>`, `<`, `&>` name **remote** files; `local:PATH` names a local one (the
//! prefix `cp` uses) and `/dev/null` is the local null device; `<<<` and `<<` feed text; `2>&1`
//! and `>&2` join streams. A remote file is connected
//! through an OS pipe and a transfer running beside the command, so bytes stream both ways.

use std::sync::Arc;

use brush_parser::ast;
use futures_util::{FutureExt, StreamExt};
use tokio::io::AsyncWriteExt;

use super::Shell;
use super::pipeline::Pumps;
use super::streams::{self, In, Out, Streams};
use crate::client::{ReadOptions, WriteOptions};

impl Shell {
    /// Applies `list` to `s`: the redirected streams, and the transfers to run beside the
    /// command. `Err(status)` when a redirection cannot be made (its error printed).
    pub(crate) async fn redirect(
        &mut self,
        list: &[ast::IoRedirect],
        mut s: Streams,
    ) -> Result<(Streams, Pumps), i32> {
        let mut pumps = Pumps::new(self.term.stderr.clone());
        for r in list {
            match self.one_redirect(r, &mut s, &mut pumps).await {
                Ok(()) => {}
                Err(message) => {
                    self.complain(&message).await;
                    return Err(1);
                }
            }
        }
        Ok((s, pumps))
    }

    async fn one_redirect(
        &mut self,
        r: &ast::IoRedirect,
        s: &mut Streams,
        pumps: &mut Pumps,
    ) -> Result<(), String> {
        match r {
            ast::IoRedirect::File(fd, kind, target) => {
                use ast::IoFileRedirectKind as K;
                let input = matches!(kind, K::Read | K::DuplicateInput | K::ReadAndWrite);
                let fd = fd.unwrap_or(if input { 0 } else { 1 });
                match (kind, target) {
                    (K::Read, ast::IoFileRedirectTarget::Filename(w)) => {
                        let path = self.expand_one(w).await?;
                        let stdin = self.remote_input(&path, pumps).await?;
                        set_in(s, fd, stdin)
                    }
                    (K::Write | K::Clobber | K::Append, ast::IoFileRedirectTarget::Filename(w)) => {
                        let path = self.expand_one(w).await?;
                        let out = self.remote_output(&path, matches!(kind, K::Append), pumps)?;
                        set_out(s, fd, out)
                    }
                    (K::DuplicateOutput, target) => {
                        let from = match target {
                            ast::IoFileRedirectTarget::Fd(n) => *n,
                            ast::IoFileRedirectTarget::Duplicate(w) => {
                                let v = self.expand_one(w).await?;
                                v.parse().map_err(|_| format!("{v}: ambiguous redirect"))?
                            }
                            _ => return Err("unsupported redirection".to_string()),
                        };
                        let out = match from {
                            1 => s.stdout.clone(),
                            2 => s.stderr.clone(),
                            n => return Err(format!("{n}: bad file descriptor")),
                        };
                        set_out(s, fd, out)
                    }
                    _ => Err(
                        "this redirection is not supported (only <, >, >>, &>, <<<, <<, N>&M)"
                            .to_string(),
                    ),
                }
            }
            ast::IoRedirect::OutputAndError(w, append) => {
                let path = self.expand_one(w).await?;
                let out = self.remote_output(&path, *append, pumps)?;
                s.stdout = out.clone();
                s.stderr = out;
                Ok(())
            }
            ast::IoRedirect::HereString(fd, w) => {
                let mut text = self.expand_one(w).await?;
                text.push('\n');
                let stdin = text_input(text.into_bytes(), pumps)?;
                set_in(s, fd.unwrap_or(0), stdin)
            }
            ast::IoRedirect::HereDocument(fd, doc) => {
                let text = if doc.requires_expansion {
                    self.expand_heredoc(&doc.doc.value).await?
                } else {
                    doc.doc.value.clone()
                };
                let stdin = text_input(text.into_bytes(), pumps)?;
                set_in(s, fd.unwrap_or(0), stdin)
            }
        }
    }

    /// `< PATH`: the file is opened first (a missing file fails the command before it runs),
    /// then its body streams into a pipe.
    async fn remote_input(&mut self, path: &str, pumps: &mut Pumps) -> Result<In, String> {
        if path == "/dev/null" {
            return Ok(In::Null);
        }
        if let Some(local) = path.strip_prefix("local:") {
            let f = std::fs::File::open(if local.is_empty() { "." } else { local })
                .map_err(|e| format!("{path}: {}", super::io_reason(&e)))?;
            return Ok(In::File(Arc::new(f)));
        }
        let abs = self.ctx.resolve(path);
        let mut body = self
            .ctx
            .client
            .read_stream(&abs, ReadOptions::default())
            .await
            .map_err(|e| format!("{path}: {}", e.reason()))?;
        let (r, w) = streams::os_pipe().map_err(|e| format!("pipe: {e}"))?;
        let given = path.to_string();
        pumps.push(
            async move {
                let mut out = streams::writer(&w).map_err(|e| format!("pipe: {e}"))?;
                drop(w);
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| format!("{given}: {}", e.reason()))?;
                    if out.write_all(&chunk).await.is_err() {
                        // The command stopped reading (`head`): not an error.
                        return Ok(());
                    }
                }
                Ok(())
            }
            .boxed_local(),
        );
        Ok(In::Pipe(Arc::new(r)))
    }

    /// `> PATH`, `>> PATH`: a pipe whose reading end streams into one write of the file.
    fn remote_output(
        &mut self,
        path: &str,
        append: bool,
        pumps: &mut Pumps,
    ) -> Result<Out, String> {
        if path == "/dev/null" {
            return Ok(Out::Null);
        }
        if let Some(local) = path.strip_prefix("local:") {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(append)
                .truncate(!append)
                .open(local)
                .map_err(|e| format!("{path}: {}", super::io_reason(&e)))?;
            return Ok(Out::File(Arc::new(f)));
        }
        let abs = self.ctx.resolve(path);
        let client = self.ctx.client.clone();
        let (r, w) = streams::os_pipe().map_err(|e| format!("pipe: {e}"))?;
        let given = path.to_string();
        pumps.push(
            async move {
                let mut input = streams::reader(&r).map_err(|e| format!("pipe: {e}"))?;
                drop(r);
                let opts = WriteOptions {
                    append,
                    ..WriteOptions::default()
                };
                client
                    .write_from(&abs, &mut input, opts)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{given}: {}", e.reason()))
            }
            .boxed_local(),
        );
        Ok(Out::Pipe(Arc::new(w)))
    }
}

/// Text (a here-string, a here-document) written into a pipe beside the command.
fn text_input(text: Vec<u8>, pumps: &mut Pumps) -> Result<In, String> {
    let (r, w) = streams::os_pipe().map_err(|e| format!("pipe: {e}"))?;
    pumps.push(
        async move {
            let mut out = streams::writer(&w).map_err(|e| format!("pipe: {e}"))?;
            drop(w);
            let _ = out.write_all(&text).await;
            Ok(())
        }
        .boxed_local(),
    );
    Ok(In::Pipe(Arc::new(r)))
}

fn set_in(s: &mut Streams, fd: i32, stdin: In) -> Result<(), String> {
    match fd {
        0 => {
            s.stdin = stdin;
            Ok(())
        }
        n => Err(format!("{n}: only standard input can be read from")),
    }
}

fn set_out(s: &mut Streams, fd: i32, out: Out) -> Result<(), String> {
    match fd {
        1 => s.stdout = out,
        2 => s.stderr = out,
        n => {
            return Err(format!(
                "{n}: only file descriptors 1 and 2 can be redirected"
            ));
        }
    }
    Ok(())
}
