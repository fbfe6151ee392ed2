//! The in-app login form (`/login`, or when the server refuses the stored token): username,
//! password and, to sign up, the password again. Mistakes are shown in the form and it asks
//! again; nothing leaves the full screen, and the stored token is replaced only by a new one.

use shared::{api::Credentials, validate};

use crate::{action::Action, input::Input};

/// Which field has the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Username,
    Password,
    Repeat,
}

#[derive(Debug, Clone)]
pub struct LoginForm {
    /// Create the account first (toggled with F2).
    pub signup: bool,
    pub focus: Field,
    pub username: Input,
    pub password: Input,
    pub repeat: Input,
    /// Why the last attempt failed, shown under the fields.
    pub error: Option<String>,
    /// A login is on its way; keys wait.
    pub busy: bool,
}

/// What a key did to the form.
#[derive(Debug, PartialEq, Eq)]
pub enum FormOutcome {
    Stay,
    Cancel,
    /// Log in (signing up first when `signup`) with these credentials.
    Submit {
        credentials: Credentials,
        signup: bool,
    },
}

impl LoginForm {
    pub fn new(username: &str) -> Self {
        let mut name = Input::default();
        name.insert(username);
        let focus = if username.is_empty() { Field::Username } else { Field::Password };
        LoginForm {
            signup: false,
            focus,
            username: name,
            password: Input::default(),
            repeat: Input::default(),
            error: None,
            busy: false,
        }
    }

    fn fields(&self) -> &'static [Field] {
        if self.signup {
            &[Field::Username, Field::Password, Field::Repeat]
        } else {
            &[Field::Username, Field::Password]
        }
    }

    fn focused(&mut self) -> &mut Input {
        match self.focus {
            Field::Username => &mut self.username,
            Field::Password => &mut self.password,
            Field::Repeat => &mut self.repeat,
        }
    }

    fn step(&mut self, by: isize) {
        let fields = self.fields();
        let at = fields.iter().position(|f| *f == self.focus).unwrap_or(0) as isize;
        let n = fields.len() as isize;
        self.focus = fields[((at + by).rem_euclid(n)) as usize];
    }

    /// Applies one action; only editing, moving between fields, F2, Enter and Esc mean
    /// anything here.
    pub fn update(&mut self, action: Action) -> FormOutcome {
        if self.busy {
            return if action == Action::CloseHelp { FormOutcome::Cancel } else { FormOutcome::Stay };
        }
        match action {
            Action::CloseHelp => return FormOutcome::Cancel,
            Action::Insert(c) if !c.is_control() => self.focused().insert(c.encode_utf8(&mut [0; 4])),
            Action::Paste(text) => {
                let line: String = text.chars().filter(|c| !c.is_control()).collect();
                self.focused().insert(&line);
            }
            Action::Backspace => self.focused().backspace(),
            Action::Delete => self.focused().delete(),
            Action::Left => self.focused().left(),
            Action::Right => self.focused().right(),
            Action::Home => self.focused().home(),
            Action::End => self.focused().end(),
            Action::DeleteWordBack => self.focused().delete_word_back(),
            Action::DeleteToStart => self.focused().delete_to_start(),
            Action::HistoryNext | Action::NextField => self.step(1),
            Action::HistoryPrev | Action::PrevField => self.step(-1),
            Action::ToggleSignup => {
                self.signup = !self.signup;
                if !self.signup && self.focus == Field::Repeat {
                    self.focus = Field::Password;
                }
            }
            Action::Submit => return self.submit(),
            _ => {}
        }
        FormOutcome::Stay
    }

    /// Enter: on to the next empty field, or check what can be checked here and submit.
    fn submit(&mut self) -> FormOutcome {
        let username = self.username.text().trim().to_owned();
        let password = self.password.text().to_owned();
        let missing = self.fields().iter().copied().find(|f| match f {
            Field::Username => username.is_empty(),
            Field::Password => password.is_empty(),
            Field::Repeat => self.repeat.text().is_empty(),
        });
        if let Some(field) = missing {
            if self.focus == field {
                self.error = Some(format!("Type the {} first", field_name(field)));
            }
            self.focus = field;
            return FormOutcome::Stay;
        }
        let checked = if self.signup {
            validate::username(&username).and_then(|_| validate::password(&password)).and_then(|()| {
                if self.repeat.text() == password { Ok(()) } else { Err("The passwords differ".to_owned()) }
            })
        } else {
            Ok(())
        };
        if let Err(hint) = checked {
            self.error = Some(hint);
            return FormOutcome::Stay;
        }
        self.error = None;
        self.busy = true;
        FormOutcome::Submit { credentials: Credentials { username, password }, signup: self.signup }
    }

    /// The server said no: show why, clear the passwords, ask again.
    pub fn failed(&mut self, why: String) {
        self.busy = false;
        self.error = Some(why);
        self.password.take();
        self.repeat.take();
        self.focus = Field::Password;
    }
}

pub fn field_name(field: Field) -> &'static str {
    match field {
        Field::Username => "username",
        Field::Password => "password",
        Field::Repeat => "password again",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(form: &mut LoginForm, text: &str) {
        for c in text.chars() {
            form.update(Action::Insert(c));
        }
    }

    #[test]
    fn enter_walks_the_fields_then_submits() {
        let mut form = LoginForm::new("");
        typed(&mut form, "ann");
        assert_eq!(form.update(Action::Submit), FormOutcome::Stay);
        assert_eq!(form.focus, Field::Password);
        typed(&mut form, "secret pw");
        let outcome = form.update(Action::Submit);
        let credentials = Credentials { username: "ann".into(), password: "secret pw".into() };
        assert_eq!(outcome, FormOutcome::Submit { credentials, signup: false });
        assert!(form.busy);
    }

    #[test]
    fn signup_mistakes_are_shown_and_asked_again_never_submitted() {
        let mut form = LoginForm::new("ab");
        form.update(Action::ToggleSignup);
        typed(&mut form, "long enough pw");
        form.update(Action::NextField);
        typed(&mut form, "long enough pw");
        assert_eq!(form.update(Action::Submit), FormOutcome::Stay, "a short username");
        assert!(form.error.as_deref().is_some_and(|e| e.contains("Username")), "{:?}", form.error);
        form.focus = Field::Username;
        typed(&mut form, "c");
        form.focus = Field::Repeat;
        typed(&mut form, "!");
        assert_eq!(form.update(Action::Submit), FormOutcome::Stay);
        assert_eq!(form.error.as_deref(), Some("The passwords differ"));
        form.update(Action::Backspace);
        assert!(matches!(form.update(Action::Submit), FormOutcome::Submit { signup: true, .. }));
    }

    #[test]
    fn a_refusal_clears_the_passwords_and_keeps_the_form() {
        let mut form = LoginForm::new("ann");
        typed(&mut form, "wrong");
        assert!(matches!(form.update(Action::Submit), FormOutcome::Submit { .. }));
        assert_eq!(form.update(Action::Insert('x')), FormOutcome::Stay, "keys wait while busy");
        form.failed("Invalid username or password".into());
        assert!(!form.busy && form.password.is_empty());
        assert_eq!(form.error.as_deref(), Some("Invalid username or password"));
        assert_eq!(form.update(Action::CloseHelp), FormOutcome::Cancel);
    }

    #[test]
    fn empty_fields_are_never_sent() {
        let mut form = LoginForm::new("");
        assert_eq!(form.update(Action::Submit), FormOutcome::Stay);
        assert_eq!(form.error.as_deref(), Some("Type the username first"));
        form.update(Action::Paste("ann\u{1b}\n".into()));
        assert_eq!(form.username.text(), "ann");
    }
}
