//! `approve`: a human's go-ahead, required in protected environments.

use std::io::{BufRead, IsTerminal, Read, Write};

use serde::{Deserialize, Serialize};

use crate::effect::{EffectClass, EffectContext, EffectError, Primitive};

/// The approval primitive.
#[doc = include_str!("docs/approve.md")]
pub struct Approve;

/// Arguments of `approve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveParams {
    pub reason: String,
}

/// Result of `approve`.
#[derive(Debug, Serialize)]
pub struct ApproveOutput {
    pub approved: bool,
    pub required: bool,
    pub approved_by: String,
    pub reason: String,
}

fn check_approver(name: &str, context: &EffectContext) -> Result<(), EffectError> {
    let approvers = &context.environment.approvers;
    if approvers.is_empty() || approvers.iter().any(|approver| approver == name) {
        return Ok(());
    }
    Err(EffectError::new(format!(
        "{name} may not approve in environment \"{}\"; approvers: {}",
        context.environment_name,
        approvers.join(", ")
    ))
    .with_help("ask one of them, or change the environment's approvers in shipctl.toml"))
}

/// Ask at the terminal; `Ok(true)` when the operator typed the environment's name.
fn ask(reason: &str, context: &EffectContext) -> Result<bool, EffectError> {
    let mut answer = Err(EffectError::new("the approval was not asked"));
    context.interact(&mut || {
        let mut stderr = std::io::stderr().lock();
        let _ = write!(
            stderr,
            "\napproval needed: {reason}\n  type \"{}\" to approve, anything else to refuse: ",
            context.environment_name
        );
        let _ = stderr.flush();
        answer = read_answer(context);
    });
    Ok(answer?.trim() == context.environment_name)
}

/// The longest answer read: an environment's name fits many times over.
const MAX_ANSWER_BYTES: u64 = 4096;

/// One line from the terminal, at most [`MAX_ANSWER_BYTES`], within the deadline. The
/// read runs on its own thread because a blocking read cannot be interrupted: when the
/// deadline passes or a signal stops the run, the run goes on to fail, and the thread
/// is left waiting on stdin until the process exits.
fn read_answer(context: &EffectContext) -> Result<String, EffectError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = std::io::stdin().lock().take(MAX_ANSWER_BYTES).read_line(&mut line).map(|_| line);
        let _ = sender.send(read);
    });
    // In slices, so that a signal (Ctrl-C at this very prompt) is seen at once.
    let slice = std::time::Duration::from_millis(50);
    loop {
        context.check_interrupted()?;
        let remaining = context.remaining();
        let answered = receiver.recv_timeout(remaining.min(slice));
        match answered {
            Ok(read) => return read.map_err(|error| EffectError::new(format!("cannot read the approval: {error}"))),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if remaining > slice => continue,
            Err(_) => {
                return Err(EffectError::new("the run's deadline passed while waiting for approval at the terminal")
                    .with_help(
                        "raise [limits] deadline in shipctl.toml, or state who approved with --approved-by <name>",
                    ));
            }
        }
    }
}

impl Primitive for Approve {
    type Params = ApproveParams;
    type Output = ApproveOutput;

    fn name(&self) -> &'static str {
        "approve"
    }

    fn doc(&self) -> &'static str {
        include_str!("docs/approve.md")
    }

    fn class(&self) -> EffectClass {
        EffectClass::Read
    }

    fn live(&self, params: &ApproveParams, context: &EffectContext) -> Result<ApproveOutput, EffectError> {
        let output = |approved_by: String, required| ApproveOutput {
            approved: true,
            required,
            approved_by,
            reason: params.reason.clone(),
        };
        if !context.environment.protected {
            return Ok(output(String::new(), false));
        }
        if let Some(name) = &context.approved_by {
            check_approver(name, context)?;
            return Ok(output(name.clone(), true));
        }
        if !std::io::stdin().is_terminal() {
            return Err(EffectError::new(format!(
                "approval needed ({}) in protected environment \"{}\", and there is no terminal to ask at",
                params.reason, context.environment_name
            ))
            .with_help("run from a terminal, or state who approved with --approved-by <name>"));
        }
        let user = crate::base::operator::user();
        check_approver(&user, context)?;
        if !ask(&params.reason, context)? {
            return Err(EffectError::new(format!("{user} refused: {}", params.reason)));
        }
        Ok(output(user, true))
    }

    fn plan(&self, params: &ApproveParams, context: &EffectContext) -> Result<ApproveOutput, EffectError> {
        Ok(ApproveOutput {
            approved: true,
            required: context.environment.protected,
            approved_by: "(plan)".to_string(),
            reason: params.reason.clone(),
        })
    }
}
