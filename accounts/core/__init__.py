"""Pure code of the accounts app: no Django imports here (a test checks it)."""
