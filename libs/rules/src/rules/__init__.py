"""Business rules written once and applied by every service and the dashboard: when a
campaign's emails go out (`rules.cadence`, `rules.weekdays`), what a valid schedule is
(`rules.schedule`), when each contact's copy of an email is due (`rules.sendtime`),
when a send window is open (`rules.window`), when the frequency cap lets one more email go
(`rules.cap`), which lifecycle changes a campaign may take (`rules.lifecycle`), which text
may go into a mail header (`rules.headers`), what a valid journey graph is (`rules.journeys`)
and what happens at each of its steps (`rules.journey_steps`). Pure: no I/O, no service imported."""
