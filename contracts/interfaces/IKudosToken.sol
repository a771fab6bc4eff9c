// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title The kudos rules of a KudosToken, beside its ERC-721, ERC-5192, ERC-4906 and AccessControl interfaces.
/// @notice A kudos is a non-fungible token that recognises a person. It carries a kind (the kudos type), the
/// time it was issued and whether it may be transferred; the text and the names it concerns stay off-chain,
/// and only the keccak256 hash of their canonical metadata JSON is published, in {KudosAwarded}.
/// @dev `type(IKudosToken).interfaceId` is answered true by `supportsInterface`, so that a client can check
/// that an address holds a KudosToken before it trusts it.
interface IKudosToken {
    /// @dev Emitted once for every kudos awarded, after its {Transfer} (and, when it is soulbound,
    /// {IERC5192-Locked}) event.
    /// @param tokenId The new kudos.
    /// @param requestId The caller's idempotency key of the award, for audit and reconciliation.
    /// @param contentHash keccak256 of the canonical off-chain metadata JSON of the kudos.
    event KudosAwarded(uint256 indexed tokenId, bytes32 indexed requestId, bytes32 contentHash);

    /// @dev Emitted when an admin revokes (burns) a kudos, after its {Transfer} event to the zero address.
    /// @param tokenId The revoked kudos.
    /// @param reason The issuer's reason code (for example 1: awarded by mistake, 2: fraud).
    event KudosRevoked(uint256 indexed tokenId, uint32 reason);

    /// @dev Emitted when an admin moves a kudos to a new wallet, after its {Transfer} event.
    /// @param tokenId The recovered kudos.
    /// @param from The wallet it was taken from.
    /// @param to The wallet it was given to.
    event KudosRecovered(uint256 indexed tokenId, address indexed from, address indexed to);

    /// @dev The kudos `tokenId` is soulbound: it cannot be transferred or approved.
    /// @param tokenId The soulbound kudos.
    error KudosSoulbound(uint256 tokenId);

    /// @dev A batch award was called with no recipients.
    error KudosEmptyBatch();

    /// @dev The arrays of a batch award differ in length.
    /// @param recipients Length of `to`.
    /// @param kinds Length of `kinds`.
    /// @param contentHashes Length of `contentHashes`.
    /// @param requestIds Length of `requestIds`.
    /// @param transferables Length of `transferable`.
    error KudosBatchLengthMismatch(
        uint256 recipients, uint256 kinds, uint256 contentHashes, uint256 requestIds, uint256 transferables
    );

    /// @dev The admin given to the constructor is not a valid account.
    /// @param admin The address that was given.
    error KudosInvalidAdmin(address admin);

    /// @notice Awards one kudos to `to`.
    /// @dev Requirements:
    ///
    /// - The caller must have the `MINTER_ROLE`.
    /// - The contract must not be paused.
    /// - `to` cannot be the zero address.
    ///
    /// Emits a {Transfer} event, a {IERC5192-Locked} event when `transferable` is false, and a {KudosAwarded} event.
    /// @param to The recipient. A contract recipient is not asked for `onERC721Received`: a kudos is a gift, not a
    /// payment, and a recipient that cannot move it loses nothing.
    /// @param kind The kudos type.
    /// @param contentHash keccak256 of the canonical metadata JSON of the kudos.
    /// @param requestId The caller's idempotency key, recorded in {KudosAwarded}.
    /// @param transferable False for a soulbound kudos.
    /// @return tokenId The new kudos; ids are sequential from 1.
    function award(address to, uint32 kind, bytes32 contentHash, bytes32 requestId, bool transferable)
        external
        returns (uint256 tokenId);

    /// @notice Awards one kudos to each recipient, in one transaction.
    /// @dev Item `i` of every array describes the `i`-th kudos, as the arguments of {award} do; the new ids are
    /// consecutive, from the returned `firstTokenId`.
    ///
    /// Requirements:
    ///
    /// - The caller must have the `MINTER_ROLE`.
    /// - The contract must not be paused.
    /// - The arrays must be non-empty and of equal length.
    /// - No recipient can be the zero address.
    ///
    /// Emits, for every kudos, the events of {award}.
    /// @param to The recipients.
    /// @param kinds The kudos types.
    /// @param contentHashes keccak256 of the canonical metadata JSON of each kudos.
    /// @param requestIds The callers' idempotency keys.
    /// @param transferable False for each soulbound kudos.
    /// @return firstTokenId The id of the kudos awarded to `to[0]`.
    function awardBatch(
        address[] calldata to,
        uint32[] calldata kinds,
        bytes32[] calldata contentHashes,
        bytes32[] calldata requestIds,
        bool[] calldata transferable
    ) external returns (uint256 firstTokenId);

    /// @notice Revokes (burns) a kudos, for example one awarded by mistake or through fraud.
    /// @dev Works while the contract is paused, so that fraudulent kudos can be burnt during an incident.
    ///
    /// Requirements:
    ///
    /// - The caller must have the `DEFAULT_ADMIN_ROLE`.
    /// - `tokenId` must exist.
    ///
    /// Emits a {Transfer} event to the zero address and a {KudosRevoked} event.
    /// @param tokenId The kudos to revoke.
    /// @param reason The issuer's reason code.
    function revoke(uint256 tokenId, uint32 reason) external;

    /// @notice Burns a kudos of the caller's own: a person may always give up a kudos.
    /// @dev Requirements:
    ///
    /// - The caller must own `tokenId`.
    ///
    /// Emits a {Transfer} event to the zero address.
    /// @param tokenId The kudos to burn.
    function burn(uint256 tokenId) external;

    /// @notice Moves a kudos, soulbound or not, to a new wallet: for a person who lost a wallet, or who claims a
    /// kudos that was held for them.
    /// @dev IMPORTANT: this is a power over every holder's kudos. Holders trust the admin to use it only at the
    /// holder's request, and every use is public in {KudosRecovered}.
    ///
    /// Requirements:
    ///
    /// - The caller must have the `DEFAULT_ADMIN_ROLE`.
    /// - The contract must not be paused.
    /// - `tokenId` must exist.
    /// - `to` cannot be the zero address.
    ///
    /// Emits a {Transfer} event and a {KudosRecovered} event.
    /// @param tokenId The kudos to move.
    /// @param to The new wallet.
    function recover(uint256 tokenId, address to) external;

    /// @notice Sets the base of every token URI; `tokenURI(id)` is the base followed by the decimal id.
    /// @dev Requirements:
    ///
    /// - The caller must have the `DEFAULT_ADMIN_ROLE`.
    ///
    /// Emits a {IERC4906-BatchMetadataUpdate} event for every token.
    /// @param baseURI The new base, usually ending in a slash.
    function setBaseURI(string calldata baseURI) external;

    /// @notice Pauses awards, transfers and recoveries. Revokes and burns stay possible.
    /// @dev Requirements: the caller must have the `PAUSER_ROLE`; the contract must not be paused.
    ///
    /// Emits a {Pausable-Paused} event.
    function pause() external;

    /// @notice Lifts a pause.
    /// @dev Requirements: the caller must have the `PAUSER_ROLE`; the contract must be paused.
    ///
    /// Emits a {Pausable-Unpaused} event.
    function unpause() external;

    /// @notice Returns the on-chain data of a kudos in one call.
    /// @dev Requirements: `tokenId` must exist.
    /// @param tokenId The kudos.
    /// @return owner Its holder.
    /// @return kind Its kudos type.
    /// @return issuedAt The timestamp of the block it was awarded in.
    /// @return transferable False when it is soulbound.
    function kudos(uint256 tokenId)
        external
        view
        returns (address owner, uint32 kind, uint40 issuedAt, bool transferable);

    /// @notice Returns the number of kudos ever awarded, which is also the id of the newest one.
    /// @return The count, revoked and burnt kudos included.
    function totalAwarded() external view returns (uint256);
}
