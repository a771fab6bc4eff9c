// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title ERC-4906: EIP-721 Metadata Update Extension
/// @dev See https://eips.ethereum.org/EIPS/eip-4906. The ERC-165 identifier of this extension is `0x49064906`.
///
/// OpenZeppelin's `IERC4906` also inherits its own `IERC721`, which cannot be combined with Solady's ERC721;
/// these are the same two events, declared alone.
interface IERC4906 {
    /// @dev Emitted when the metadata of a token is changed, so that third-party platforms such as NFT
    /// marketplaces can refresh it.
    /// @param _tokenId The token whose metadata changed.
    event MetadataUpdate(uint256 _tokenId);

    /// @dev Emitted when the metadata of a range of tokens is changed, so that third-party platforms such as
    /// NFT marketplaces can refresh the metadata of all of them.
    /// @param _fromTokenId The first token of the range, inclusive.
    /// @param _toTokenId The last token of the range, inclusive.
    event BatchMetadataUpdate(uint256 _fromTokenId, uint256 _toTokenId);
}
