"""Kudos held for people without a wallet, and their claims (EIP-4361 sign-in: :mod:`.siwe`)."""
