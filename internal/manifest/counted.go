package manifest

// Counted is a Source that knows, once open, how many records it will
// yield: a 7z archive declares its members in its header, so a progress
// display can show a total without reading the manifest twice.
type Counted interface {
	Source
	// Count is the number of records Next will return before io.EOF.
	Count() int
}
