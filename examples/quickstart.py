"""Deploy, award, read and verify a kudos on the embedded chain: no node, no configuration."""

from kudos_chain import Chain, KudosClient, KudosMetadata, content_hash

chain = Chain.embedded()  # py-evm in this process; Chain.connect(url, chain_id=...) for a real node
hr, alice = chain.dev_accounts[0], chain.dev_accounts[1]
kudos = KudosClient.deploy(
    chain, hr, name="Acme Kudos", symbol="ACME", base_uri="https://kudos.acme.example/v1/tokens/"
)

meta = KudosMetadata(
    kind="Team Player",
    message="Thank you for carrying the launch!",
    awarded_by="Grace (HR)",
    awarded_at="2026-11-26T10:00:00Z",
    image="https://kudos.acme.example/badges/team-player.svg",
)
award = kudos.award(alice.address, kind=1, content_hash=content_hash(meta), request_id="hr-2026-0001")

token = kudos.kudos(award.token_id)
print(token.token_id, token.owner == alice.address, token.soulbound, token.token_uri)
print("verified:", kudos.verify(award.token_id, meta))
