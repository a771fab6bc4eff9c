// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC721} from "solady/src/tokens/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {IERC4906} from "./interfaces/IERC4906.sol";
import {IERC5192} from "./interfaces/IERC5192.sol";
import {IKudosToken} from "./interfaces/IKudosToken.sol";

/// @title KudosToken
/// @notice Recognition as a non-fungible token: soulbound by default, revocable by its issuer, and with nothing
/// personal on-chain.
/// @dev The ERC-721 core is Solady's, for its per-token extra data: the kind, issue time and transferability of
/// a kudos share the storage slot of its owner, so that an award writes the two fresh slots every ERC-721 mint
/// writes (owner, balance) and no third. Roles and pausing are OpenZeppelin's.
///
/// Departures from OpenZeppelin's ERC721, which integrators should know:
/// - The ERC-721 core reverts with Solady's errors (`TokenDoesNotExist()`, `NotOwnerNorApproved()`,
///   `TransferFromIncorrectOwner()`, ...); the kudos functions revert with the ERC-6093 errors of
///   {IERC721Errors} and those of {IKudosToken}.
/// - Awards do not call `onERC721Received` on contract recipients (see {IKudosToken-award}).
/// - The content hash and request id of a kudos are not stored: they are proven by its {KudosAwarded} event,
///   which costs 8 gas a byte where storage would cost 22,100 gas a slot.
///
/// Storage layout:
/// - Solady's ERC721 keeps its data in hashed slots; the ownership slot of a token packs the owner in bits
///   [0..159] and 96 bits of extra data in [160..255], which hold here:
///   - [0..31]  `kind`
///   - [32..71] `issuedAt`
///   - [72]     `transferable`
/// - Slot 0: AccessControl's `_roles`. Slot 1: Pausable's `_paused` (byte 0) and `_totalAwarded` (bytes 1..8),
///   so that an award reads both with one cold access.
///
/// If you are overriding:
/// - Every change of owner passes through {_beforeTokenTransfer}; keep the kudos rules there.
/// - Keep `_totalAwarded` the id of the newest kudos: ids are sequential and never reused.
contract KudosToken is ERC721, AccessControl, Pausable, IERC721Errors, IERC4906, IERC5192, IKudosToken {
    /// @notice The role that may award kudos.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice The role that may pause and unpause the contract.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    uint256 private constant _KIND_MASK = 0xffffffff;
    uint256 private constant _ISSUED_AT_SHIFT = 32;
    uint256 private constant _ISSUED_AT_MASK = 0xffffffffff;
    uint256 private constant _TRANSFERABLE_BIT = 1 << 72;

    /// @dev Packed beside Pausable's `_paused`; 2**64 kudos will never be awarded.
    uint64 private _totalAwarded;

    /// @dev Set only for the duration of a {recover}, which may move a soulbound kudos.
    bool private transient _recovering;

    string private _name;
    string private _symbol;
    string private _baseTokenURI;

    /// @param name_ The collection name.
    /// @param symbol_ The collection symbol.
    /// @param baseURI_ The base of every token URI, usually ending in a slash.
    /// @param admin The account that holds the `DEFAULT_ADMIN_ROLE`, `MINTER_ROLE` and `PAUSER_ROLE` at deploy.
    constructor(string memory name_, string memory symbol_, string memory baseURI_, address admin) {
        if (admin == address(0)) revert KudosInvalidAdmin(admin);
        _name = name_;
        _symbol = symbol_;
        _baseTokenURI = baseURI_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(MINTER_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
    }

    // ----------------------------------------------------------------------------------------------------------
    // Awards
    // ----------------------------------------------------------------------------------------------------------

    /// @inheritdoc IKudosToken
    function award(address to, uint32 kind, bytes32 contentHash, bytes32 requestId, bool transferable)
        external
        onlyRole(MINTER_ROLE)
        whenNotPaused
        returns (uint256 tokenId)
    {
        unchecked {
            // Fewer than 2**64 kudos will ever be awarded.
            tokenId = uint256(_totalAwarded) + 1;
        }
        _totalAwarded = uint64(tokenId);
        _award(to, tokenId, kind, contentHash, requestId, transferable);
    }

    /// @inheritdoc IKudosToken
    function awardBatch(
        address[] calldata to,
        uint32[] calldata kinds,
        bytes32[] calldata contentHashes,
        bytes32[] calldata requestIds,
        bool[] calldata transferable
    ) external onlyRole(MINTER_ROLE) whenNotPaused returns (uint256 firstTokenId) {
        uint256 count = to.length;
        if (count == 0) revert KudosEmptyBatch();
        if (
            kinds.length != count || contentHashes.length != count || requestIds.length != count
                || transferable.length != count
        ) {
            revert KudosBatchLengthMismatch(
                count, kinds.length, contentHashes.length, requestIds.length, transferable.length
            );
        }
        uint256 last = _totalAwarded;
        unchecked {
            // Fewer than 2**64 kudos will ever be awarded, and `i < count`.
            firstTokenId = last + 1;
            for (uint256 i; i < count; ++i) {
                _award(to[i], firstTokenId + i, kinds[i], contentHashes[i], requestIds[i], transferable[i]);
            }
            last += count;
        }
        _totalAwarded = uint64(last);
    }

    /// @dev Mints `tokenId` to `to` with its kudos data packed beside the owner.
    ///
    /// Requirements:
    ///
    /// - `tokenId` must be fresh (the callers take it from `_totalAwarded`).
    /// - `to` cannot be the zero address.
    ///
    /// Emits a {Transfer} event, a {Locked} event unless `transferable`, and a {KudosAwarded} event.
    function _award(
        address to,
        uint256 tokenId,
        uint32 kind,
        bytes32 contentHash,
        bytes32 requestId,
        bool transferable
    ) private {
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        uint256 data = uint256(kind) | (block.timestamp << _ISSUED_AT_SHIFT);
        if (transferable) data |= _TRANSFERABLE_BIT;
        // The id is fresh, so the unchecked mint cannot overwrite a kudos; `block.timestamp` fits in 40 bits
        // until the year 36812.
        _mintAndSetExtraDataUnchecked(to, tokenId, uint96(data));
        if (!transferable) emit Locked(tokenId);
        emit KudosAwarded(tokenId, requestId, contentHash);
    }

    // ----------------------------------------------------------------------------------------------------------
    // Issuer's corrections
    // ----------------------------------------------------------------------------------------------------------

    /// @inheritdoc IKudosToken
    function revoke(uint256 tokenId, uint32 reason) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _requireExists(tokenId);
        _burn(tokenId);
        emit KudosRevoked(tokenId, reason);
    }

    /// @inheritdoc IKudosToken
    function burn(uint256 tokenId) external {
        address owner = _requireExists(tokenId);
        if (owner != msg.sender) revert ERC721IncorrectOwner(msg.sender, tokenId, owner);
        _burn(tokenId);
    }

    /// @inheritdoc IKudosToken
    function recover(uint256 tokenId, address to) external onlyRole(DEFAULT_ADMIN_ROLE) {
        address from = _requireExists(tokenId);
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        _recovering = true;
        _transfer(from, to, tokenId);
        _recovering = false;
        emit KudosRecovered(tokenId, from, to);
    }

    /// @inheritdoc IKudosToken
    function setBaseURI(string calldata baseURI) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _baseTokenURI = baseURI;
        emit BatchMetadataUpdate(1, type(uint256).max);
    }

    /// @inheritdoc IKudosToken
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @inheritdoc IKudosToken
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    // ----------------------------------------------------------------------------------------------------------
    // Soulbound rules
    // ----------------------------------------------------------------------------------------------------------

    /// @notice Approves `account` to move kudos `tokenId`.
    /// @dev Requirements: the kudos must be transferable; otherwise as Solady's {ERC721-approve}.
    /// @param account The account to approve, or the zero address to clear the approval.
    /// @param tokenId The kudos.
    function approve(address account, uint256 tokenId) public payable override {
        _requireTransferable(tokenId);
        super.approve(account, tokenId);
    }

    /// @dev The one hook every change of owner passes through. Awards are checked once per call, in {award} and
    /// {awardBatch}; burns (revoke, the owner's burn) stay possible while paused; every other move requires the
    /// contract not to be paused and the kudos to be transferable, unless an admin is recovering it.
    function _beforeTokenTransfer(address from, address to, uint256 tokenId) internal view override {
        if (from == address(0) || to == address(0)) return;
        _requireNotPaused();
        if (!_recovering) _requireTransferable(tokenId);
    }

    /// @dev Reverts with {KudosSoulbound} unless `tokenId` exists and is transferable.
    function _requireTransferable(uint256 tokenId) private view {
        _requireExists(tokenId);
        if (_getExtraData(tokenId) & _TRANSFERABLE_BIT == 0) revert KudosSoulbound(tokenId);
    }

    /// @dev Returns the owner of `tokenId`, or reverts with {ERC721NonexistentToken}.
    function _requireExists(uint256 tokenId) private view returns (address owner) {
        owner = _ownerOf(tokenId);
        if (owner == address(0)) revert ERC721NonexistentToken(tokenId);
    }

    // ----------------------------------------------------------------------------------------------------------
    // Views
    // ----------------------------------------------------------------------------------------------------------

    /// @inheritdoc IKudosToken
    function kudos(uint256 tokenId)
        external
        view
        returns (address owner, uint32 kind, uint40 issuedAt, bool transferable)
    {
        owner = _requireExists(tokenId);
        uint256 data = _getExtraData(tokenId);
        kind = uint32(data & _KIND_MASK);
        issuedAt = uint40((data >> _ISSUED_AT_SHIFT) & _ISSUED_AT_MASK);
        transferable = data & _TRANSFERABLE_BIT != 0;
    }

    /// @inheritdoc IKudosToken
    function totalAwarded() external view returns (uint256) {
        return _totalAwarded;
    }

    /// @inheritdoc IERC5192
    function locked(uint256 tokenId) external view returns (bool) {
        _requireExists(tokenId);
        return _getExtraData(tokenId) & _TRANSFERABLE_BIT == 0;
    }

    /// @notice The collection name.
    function name() public view override returns (string memory) {
        return _name;
    }

    /// @notice The collection symbol.
    function symbol() public view override returns (string memory) {
        return _symbol;
    }

    /// @notice The URI of the metadata JSON of `tokenId`: the base URI followed by the decimal id.
    /// @dev Requirements: `tokenId` must exist.
    /// @param tokenId The kudos.
    function tokenURI(uint256 tokenId) public view override returns (string memory) {
        _requireExists(tokenId);
        return string.concat(_baseTokenURI, Strings.toString(tokenId));
    }

    /// @notice True for ERC-165, ERC-721, ERC-721 Metadata, ERC-5192, ERC-4906, AccessControl and {IKudosToken}.
    /// @param interfaceId The ERC-165 identifier to test.
    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return interfaceId == type(IERC5192).interfaceId || interfaceId == bytes4(0x49064906)
            || interfaceId == type(IKudosToken).interfaceId || ERC721.supportsInterface(interfaceId)
            || AccessControl.supportsInterface(interfaceId);
    }
}
