//! `$((...))` and `((...))`: integer arithmetic over shell variables (brush-parser parses it).

use brush_parser::ast::{
    ArithmeticExpr as E, ArithmeticTarget, BinaryOperator as B, UnaryAssignmentOperator as UA,
    UnaryOperator as U,
};

use super::Shell;

impl Shell {
    /// Evaluates an arithmetic expression (after `$` expansions in its text).
    pub(crate) async fn arith(&mut self, text: &str) -> Result<i64, String> {
        let expanded = self.expand_heredoc(text).await?;
        let expr =
            brush_parser::arithmetic::parse(&expanded).map_err(|e| format!("{expanded}: {e}"))?;
        self.eval_arith(&expr)
    }

    fn var(&self, t: &ArithmeticTarget) -> Result<(String, i64), String> {
        let ArithmeticTarget::Variable(name) = t else {
            return Err("arrays are not supported".to_string());
        };
        let v = self.vars.get(name).map(|s| s.trim()).unwrap_or("");
        let n = if v.is_empty() {
            0
        } else {
            v.parse()
                .map_err(|_| format!("{name}: not a number: {v}"))?
        };
        Ok((name.clone(), n))
    }

    fn eval_arith(&mut self, e: &E) -> Result<i64, String> {
        Ok(match e {
            E::Literal(n) => *n,
            E::Reference(t) => self.var(t)?.1,
            E::UnaryOp(op, x) => {
                let x = self.eval_arith(x)?;
                match op {
                    U::UnaryPlus => x,
                    U::UnaryMinus => x.wrapping_neg(),
                    U::BitwiseNot => !x,
                    U::LogicalNot => i64::from(x == 0),
                }
            }
            E::BinaryOp(B::LogicalAnd, a, b) => {
                i64::from(self.eval_arith(a)? != 0 && self.eval_arith(b)? != 0)
            }
            E::BinaryOp(B::LogicalOr, a, b) => {
                i64::from(self.eval_arith(a)? != 0 || self.eval_arith(b)? != 0)
            }
            E::BinaryOp(op, a, b) => {
                let (a, b) = (self.eval_arith(a)?, self.eval_arith(b)?);
                binary(*op, a, b)?
            }
            E::Conditional(c, a, b) => {
                if self.eval_arith(c)? != 0 {
                    self.eval_arith(a)?
                } else {
                    self.eval_arith(b)?
                }
            }
            E::Assignment(t, x) => {
                let v = self.eval_arith(x)?;
                self.set(t, v)?
            }
            E::BinaryAssignment(op, t, x) => {
                let cur = self.var(t)?.1;
                let v = self.eval_arith(x)?;
                let v = binary(*op, cur, v)?;
                self.set(t, v)?
            }
            E::UnaryAssignment(op, t) => {
                let cur = self.var(t)?.1;
                let new = match op {
                    UA::PrefixIncrement | UA::PostfixIncrement => cur.wrapping_add(1),
                    UA::PrefixDecrement | UA::PostfixDecrement => cur.wrapping_sub(1),
                };
                self.set(t, new)?;
                match op {
                    UA::PrefixIncrement | UA::PrefixDecrement => new,
                    UA::PostfixIncrement | UA::PostfixDecrement => cur,
                }
            }
        })
    }

    fn set(&mut self, t: &ArithmeticTarget, v: i64) -> Result<i64, String> {
        let (name, _) = self.var(t).or_else(|_| match t {
            ArithmeticTarget::Variable(n) => Ok((n.clone(), 0)),
            ArithmeticTarget::ArrayElement(..) => Err("arrays are not supported".to_string()),
        })?;
        self.vars.insert(name, v.to_string());
        Ok(v)
    }
}

fn binary(op: B, a: i64, b: i64) -> Result<i64, String> {
    Ok(match op {
        B::Power => a.wrapping_pow(u32::try_from(b).map_err(|_| "negative exponent")?),
        B::Multiply => a.wrapping_mul(b),
        B::Divide | B::Modulo if b == 0 => return Err("division by 0".to_string()),
        B::Divide => a.wrapping_div(b),
        B::Modulo => a.wrapping_rem(b),
        B::Comma => b,
        B::Add => a.wrapping_add(b),
        B::Subtract => a.wrapping_sub(b),
        B::ShiftLeft => a.wrapping_shl(b as u32),
        B::ShiftRight => a.wrapping_shr(b as u32),
        B::LessThan => i64::from(a < b),
        B::LessThanOrEqualTo => i64::from(a <= b),
        B::GreaterThan => i64::from(a > b),
        B::GreaterThanOrEqualTo => i64::from(a >= b),
        B::Equals => i64::from(a == b),
        B::NotEquals => i64::from(a != b),
        B::BitwiseAnd => a & b,
        B::BitwiseXor => a ^ b,
        B::BitwiseOr => a | b,
        B::LogicalAnd => i64::from(a != 0 && b != 0),
        B::LogicalOr => i64::from(a != 0 || b != 0),
    })
}
