package importer

import (
	"maps"
	"testing"
)

func TestAttributesFor(t *testing.T) {
	mchp := map[string]string{"partNumber": "ATECC608C-TNGTLSU-B", "groupId": "G1", "provisioningTimestamp": "2023-01-01T00:00:00Z"}
	tests := []struct {
		name      string
		dev       Device
		thingType bool
		want      map[string]string
	}{
		{name: "infineon", dev: Device{ChipID: "C", ReelID: "R", BatchID: "B"},
			want: map[string]string{"chip_id": "C", "reel_id": "R", "batch_id": "B"}},
		{name: "microchip without thing type keeps 3, by name", dev: Device{ChipID: "C", Attributes: mchp},
			want: map[string]string{"chip_id": "C", "groupId": "G1", "partNumber": "ATECC608C-TNGTLSU-B"}},
		{name: "microchip with thing type keeps all", dev: Device{ChipID: "C", Attributes: mchp}, thingType: true,
			want: map[string]string{"chip_id": "C", "groupId": "G1", "partNumber": "ATECC608C-TNGTLSU-B", "provisioningTimestamp": "2023-01-01T00:00:00Z"}},
		{name: "extra never overrides chip_id", dev: Device{ChipID: "C", Attributes: map[string]string{"chip_id": "X"}},
			want: map[string]string{"chip_id": "C"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.dev.AttributesFor(tt.thingType); !maps.Equal(got, tt.want) {
				t.Fatalf("AttributesFor(%v) = %v, want %v", tt.thingType, got, tt.want)
			}
		})
	}
}
