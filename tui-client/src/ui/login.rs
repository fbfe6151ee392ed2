//! The login form, drawn over the middle of the screen.

use ratatui::{
    buffer::Buffer,
    layout::{Position, Rect},
    style::{Color, Modifier, Style},
};

use crate::{
    login_form::{Field, LoginForm, field_name},
    wrap,
};

/// Draws `form` centred in `screen`; returns where the cursor belongs.
pub fn render(form: &LoginForm, server: &str, screen: Rect, buf: &mut Buffer) -> Option<Position> {
    let title = if form.signup { " Sign up " } else { " Log in " };
    let inner = super::overlay(screen, 60, if form.signup { 10 } else { 9 }, title, buf);
    let mut rows: Vec<(String, Style)> =
        vec![(wrap::truncate(server, usize::from(inner.width)), Style::default().fg(Color::DarkGray))];
    let mut cursor = None;
    let fields: &[Field] = if form.signup {
        &[Field::Username, Field::Password, Field::Repeat]
    } else {
        &[Field::Username, Field::Password]
    };
    for &field in fields {
        let input = match field {
            Field::Username => &form.username,
            Field::Password => &form.password,
            Field::Repeat => &form.repeat,
        };
        let label = format!("{:>15}: ", field_name(field));
        let (shown, before) = match field {
            // Passwords as one dot per character.
            Field::Username => {
                (wrap::sanitize(input.text()).into_owned(), wrap::width(input.before_cursor()))
            }
            _ => ("•".repeat(input.text().chars().count()), input.before_cursor().chars().count()),
        };
        if field == form.focus {
            let y = inner.y + rows.len() as u16;
            let x = inner.x + wrap::width(&label) as u16 + before as u16;
            cursor = Some(Position::new(x.min(inner.right().saturating_sub(1)), y));
        }
        let style = if field == form.focus {
            Style::default().add_modifier(Modifier::BOLD)
        } else {
            Style::default()
        };
        rows.push((format!("{label}{shown}"), style));
    }
    rows.push((String::new(), Style::default()));
    match (&form.error, form.busy) {
        (_, true) => rows.push(("Logging in…".into(), Style::default().fg(Color::Yellow))),
        (Some(error), false) => rows.push((error.clone(), Style::default().fg(Color::Red))),
        (None, false) => rows.push((String::new(), Style::default())),
    }
    let other = if form.signup { "log in instead" } else { "sign up instead" };
    rows.push((
        format!("Enter: next/submit  Tab: field  F2: {other}  Esc: cancel"),
        Style::default().fg(Color::DarkGray),
    ));
    for (i, (text, style)) in rows.iter().enumerate() {
        let y = inner.y + i as u16;
        if y >= inner.bottom() {
            break;
        }
        buf.set_stringn(inner.x, y, text, usize::from(inner.width), *style);
    }
    cursor.filter(|c| c.y < inner.bottom())
}
