//! The sign-in form's keys: editing the fields, switching to registration, and submitting,
//! which asks the driver for a sign-in.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::tui::app::{App, Field, SignInForm};
use crate::tui::effect::{AuthRequest, Effect};

/// The longest text a field takes.
pub(super) const MAX_FIELD: usize = 512;

pub(super) fn key(app: &mut App, key: KeyEvent, out: &mut Vec<Effect>) {
    let form = &mut app.sign_in;
    if form.busy {
        if key.code == KeyCode::Esc {
            out.push(Effect::Quit);
        }
        return;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Esc => out.push(Effect::Quit),
        KeyCode::Char('r') if ctrl => form.register = !form.register,
        KeyCode::Char('u') if ctrl => form.field_mut().clear(),
        KeyCode::Tab | KeyCode::Down => form.field = next_field(form.field),
        KeyCode::BackTab | KeyCode::Up => {
            form.field = next_field(next_field(form.field));
        }
        KeyCode::Backspace => {
            form.field_mut().pop();
        }
        KeyCode::Char(c) if !ctrl && form.field_mut().chars().count() < MAX_FIELD => {
            form.field_mut().push(c)
        }
        KeyCode::Enter => submit(form, out),
        _ => {}
    }
}

fn next_field(field: Field) -> Field {
    match field {
        Field::Server => Field::Username,
        Field::Username => Field::Password,
        Field::Password => Field::Server,
    }
}

/// Asks for a sign-in, or says which field is missing or too short.
fn submit(form: &mut SignInForm, out: &mut Vec<Effect>) {
    let empty = [
        (
            Field::Server,
            form.server.trim().is_empty(),
            "the server URL",
        ),
        (
            Field::Username,
            form.username.trim().is_empty(),
            "a username",
        ),
        (Field::Password, form.password.is_empty(), "a password"),
    ]
    .into_iter()
    .find(|(_, empty, _)| *empty);
    if let Some((field, _, what)) = empty {
        if form.field == field {
            form.message = Some(format!("Please enter {what}."));
        }
        form.field = field;
        return;
    }
    if form.register && form.password.chars().count() < 8 {
        form.message = Some("The password needs at least 8 characters.".into());
        form.field = Field::Password;
        return;
    }
    form.busy = true;
    form.message = None;
    out.push(Effect::SignIn(AuthRequest {
        server: form.server.trim().to_owned(),
        username: form.username.trim().to_owned(),
        password: form.password.clone(),
        register: form.register,
    }));
}
