//! Running the syntax tree: lists, `&&`/`||`, compound commands (`if`, `for`, `while`, `until`,
//! `case`, `{ }`, `( )`, `(( ))`), functions, and `-e`.

use std::sync::Arc;

use brush_parser::ast;
use futures_util::FutureExt;
use futures_util::future::LocalBoxFuture;

use super::streams::Streams;
use super::{Flow, Shell};

impl Shell {
    /// Runs a list (`a; b && c`), stopping when a `break`/`continue`/`return`/`exit` is pending.
    pub(crate) fn exec_list<'a>(
        &'a mut self,
        list: &'a ast::CompoundList,
        s: Streams,
    ) -> LocalBoxFuture<'a, i32> {
        async move {
            let mut status = 0;
            for ast::CompoundListItem(and_or, sep) in &list.0 {
                if matches!(sep, ast::SeparatorOperator::Async) {
                    self.complain("background jobs (&) are not supported: the command runs now")
                        .await;
                }
                status = self.exec_and_or(and_or, s.clone()).await;
                self.status = status;
                if self.flow.is_some() {
                    break;
                }
                if status != 0 && self.errexit && self.in_condition == 0 {
                    self.flow = Some(Flow::Exit(status));
                    break;
                }
            }
            status
        }
        .boxed_local()
    }

    async fn exec_and_or(&mut self, list: &ast::AndOrList, s: Streams) -> i32 {
        let conditional = !list.additional.is_empty();
        // The pipelines before an `&&`/`||` are conditions: `-e` does not stop on them.
        self.in_condition += u32::from(conditional);
        let mut status = self.exec_pipeline(&list.first, s.clone()).await;
        self.in_condition -= u32::from(conditional);
        for (i, next) in list.additional.iter().enumerate() {
            self.status = status;
            if self.flow.is_some() {
                return status;
            }
            let last = i + 1 == list.additional.len();
            let (run, p) = match next {
                ast::AndOr::And(p) => (status == 0, p),
                ast::AndOr::Or(p) => (status != 0, p),
            };
            if run {
                self.in_condition += u32::from(!last);
                status = self.exec_pipeline(p, s.clone()).await;
                self.in_condition -= u32::from(!last);
            }
        }
        status
    }

    /// Runs a condition (of `if`, `while`): `-e` does not apply inside.
    async fn condition(&mut self, list: &ast::CompoundList, s: &Streams) -> i32 {
        self.in_condition += 1;
        let status = self.exec_list(list, s.clone()).await;
        self.in_condition -= 1;
        status
    }

    /// Runs a compound command with its streams already redirected.
    pub(crate) fn exec_compound<'a>(
        &'a mut self,
        cc: &'a ast::CompoundCommand,
        s: Streams,
    ) -> LocalBoxFuture<'a, i32> {
        async move {
            match cc {
                ast::CompoundCommand::BraceGroup(g) => self.exec_list(&g.list, s).await,
                ast::CompoundCommand::Subshell(sub) => {
                    let mut child = self.clone();
                    let status = child.exec_list(&sub.list, s).await;
                    match child.flow {
                        Some(Flow::Exit(code)) => code,
                        _ => status,
                    }
                }
                ast::CompoundCommand::IfClause(c) => self.exec_if(c, s).await,
                ast::CompoundCommand::ForClause(c) => self.exec_for(c, s).await,
                ast::CompoundCommand::WhileClause(c) => self.exec_while(c, s, false).await,
                ast::CompoundCommand::UntilClause(c) => self.exec_while(c, s, true).await,
                ast::CompoundCommand::CaseClause(c) => self.exec_case(c, s).await,
                ast::CompoundCommand::Arithmetic(a) => match self.arith(&a.expr.value).await {
                    Ok(v) => i32::from(v == 0),
                    Err(e) => {
                        self.complain(&format!("((: {e}")).await;
                        1
                    }
                },
                ast::CompoundCommand::ArithmeticForClause(_) => {
                    self.complain("for ((...)) loops are not supported").await;
                    2
                }
                ast::CompoundCommand::Coprocess(_) => {
                    self.complain("coproc is not supported").await;
                    2
                }
            }
        }
        .boxed_local()
    }

    async fn exec_if(&mut self, c: &ast::IfClauseCommand, s: Streams) -> i32 {
        let cond = self.condition(&c.condition, &s).await;
        if self.flow.is_some() {
            return cond;
        }
        if cond == 0 {
            return self.exec_list(&c.then, s).await;
        }
        for e in c.elses.iter().flatten() {
            match &e.condition {
                Some(cond) => {
                    let st = self.condition(cond, &s).await;
                    if self.flow.is_some() {
                        return st;
                    }
                    if st == 0 {
                        return self.exec_list(&e.body, s).await;
                    }
                }
                None => return self.exec_list(&e.body, s).await,
            }
        }
        0
    }

    /// After a loop body: whether to leave the loop (handling the loop's own break/continue).
    fn loop_should_stop(&mut self) -> bool {
        match self.flow {
            Some(Flow::Break(n)) => {
                self.flow = (n > 1).then_some(Flow::Break(n - 1));
                true
            }
            Some(Flow::Continue(n)) if n > 1 => {
                self.flow = Some(Flow::Continue(n - 1));
                true
            }
            Some(Flow::Continue(_)) => {
                self.flow = None;
                false
            }
            Some(Flow::Return | Flow::Exit(_)) => true,
            None => false,
        }
    }

    async fn exec_for(&mut self, c: &ast::ForClauseCommand, s: Streams) -> i32 {
        let values = match &c.values {
            Some(words) => match self.expand_words(words).await {
                Ok(v) => v,
                Err(e) => {
                    self.complain(&e).await;
                    return 1;
                }
            },
            None => self.args.clone(),
        };
        let mut status = 0;
        for v in values {
            self.vars.insert(c.variable_name.clone(), v);
            status = self.exec_list(&c.body.list, s.clone()).await;
            if self.loop_should_stop() {
                break;
            }
        }
        status
    }

    async fn exec_while(
        &mut self,
        c: &ast::WhileOrUntilClauseCommand,
        s: Streams,
        until: bool,
    ) -> i32 {
        let mut status = 0;
        loop {
            let cond = self.condition(&c.0, &s).await;
            if self.flow.is_some() {
                if self.loop_should_stop() {
                    break;
                }
                continue;
            }
            if (cond == 0) == until {
                break;
            }
            status = self.exec_list(&c.1.list, s.clone()).await;
            if self.loop_should_stop() {
                break;
            }
        }
        status
    }

    async fn exec_case(&mut self, c: &ast::CaseClauseCommand, s: Streams) -> i32 {
        let value = match self.expand_one(&c.value).await {
            Ok(v) => v,
            Err(e) => {
                self.complain(&e).await;
                return 1;
            }
        };
        let mut fall_through = false;
        for item in &c.cases {
            let mut matched = fall_through;
            for p in &item.patterns {
                if matched {
                    break;
                }
                match self.expand_pattern(p).await {
                    Ok(re) => matched = re.is_match(&value),
                    Err(e) => {
                        self.complain(&e).await;
                        return 1;
                    }
                }
            }
            if !matched {
                continue;
            }
            let status = match &item.cmd {
                Some(list) => self.exec_list(list, s.clone()).await,
                None => 0,
            };
            match item.post_action {
                ast::CaseItemPostAction::ExitCase => return status,
                ast::CaseItemPostAction::UnconditionallyExecuteNextCaseItem => fall_through = true,
                ast::CaseItemPostAction::ContinueEvaluatingCases => fall_through = false,
            }
        }
        0
    }

    /// Calls a function: `$1`... are `argv[1..]` during the call; `return` ends it.
    pub(crate) async fn call_function(
        &mut self,
        f: Arc<ast::FunctionDefinition>,
        argv: Vec<String>,
        s: Streams,
    ) -> i32 {
        let saved = std::mem::replace(&mut self.args, argv.into_iter().skip(1).collect());
        let ast::FunctionBody(body, redirects) = &f.body;
        let status = self.with_redirects(redirects.as_ref(), s, body).await;
        self.args = saved;
        if self.flow == Some(Flow::Return) {
            self.flow = None;
        }
        status
    }

    /// Runs a compound command under its redirections.
    pub(crate) async fn with_redirects(
        &mut self,
        redirects: Option<&ast::RedirectList>,
        s: Streams,
        body: &ast::CompoundCommand,
    ) -> i32 {
        let list: &[ast::IoRedirect] = redirects.map_or(&[], |r| &r.0);
        let (streams, pumps) = match self.redirect(list, s).await {
            Ok(x) => x,
            Err(code) => return code,
        };
        let run = self.exec_compound(body, streams);
        let (status, pumped) = futures_util::future::join(run, pumps.run()).await;
        pumped.unwrap_or(status)
    }
}
