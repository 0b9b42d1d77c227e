//go:build !wasip1

package filestore

import "github.com/flytesecrets/flyte/abi"

// decodedList is s.List(req) as the host receives it: the answer's
// records, which the store sends in wire form (ListResponse.Encoded),
// decoded.
func decodedList(s *Store, req *abi.ListRequest) (*abi.ListResponse, error) {
	resp, err := s.List(req)
	if err != nil || resp == nil {
		return resp, err
	}
	var out abi.ListResponse
	if err := abi.Unmarshal(abi.Marshal(resp), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// DecodedList is decodedList, for the package's external tests.
var DecodedList = decodedList
