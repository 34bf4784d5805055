// Package infineon reads Infineon OPTIGA Trust M Express reel bundles, 7z
// archives of per-slot 7z archives of one PEM file per chip. The chosen
// slot's inner archive is spooled to a temporary file, never held in
// memory, and every archive header is checked before the 7z library sees
// it so that a hostile header cannot make it allocate without bound.
// docs/design.md ("The Infineon bundle layout") describes the layout.
package infineon
