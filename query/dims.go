package query

import (
	"cmp"
	"strings"
)

// dimMask is the set of grouped dimensions, one bit per entry of
// table.Dimensions; the switches below follow its names.
type dimMask uint8

const (
	dimModel dimMask = 1 << iota
	dimAccount
	dimColo
	dimSource
	dimErrorCode
	dimBackend
)

func maskOf(dims []string) dimMask {
	var m dimMask
	for _, d := range dims {
		switch d {
		case "model_id":
			m |= dimModel
		case "account_id":
			m |= dimAccount
		case "colo_id":
			m |= dimColo
		case "request_source":
			m |= dimSource
		case "error_code":
			m |= dimErrorCode
		case "backend":
			m |= dimBackend
		}
	}
	return m
}

// whereKey turns --where conditions on inference dimensions into the
// dimensions they name and the key a kept row has in them.
func whereKey(conds []cond) (dimMask, Key) {
	var k Key
	dims := make([]string, 0, len(conds))
	for _, c := range conds {
		dims = append(dims, c.dim)
		switch c.dim {
		case "model_id":
			k.ModelID = c.text
		case "account_id":
			k.AccountID = c.num
		case "colo_id":
			k.ColoID = uint32(c.num)
		case "request_source":
			k.RequestSource = c.text
		case "error_code":
			k.ErrorCode = uint32(c.num)
		case "backend":
			k.Backend = c.text
		}
	}
	return maskOf(dims), k
}

// key keeps the grouped dimensions of r and blanks the others.
func (m dimMask) key(r *inferenceColumns) Key {
	var k Key
	if m&dimModel != 0 {
		k.ModelID = r.ModelID
	}
	if m&dimAccount != 0 {
		k.AccountID = r.AccountID
	}
	if m&dimColo != 0 {
		k.ColoID = r.ColoID
	}
	if m&dimSource != 0 {
		k.RequestSource = r.RequestSource
	}
	if m&dimErrorCode != 0 {
		k.ErrorCode = r.ErrorCode
	}
	if m&dimBackend != 0 {
		k.Backend = r.Backend
	}
	return k
}

func compareDim(d string, a, b *Key) int {
	switch d {
	case "model_id":
		return strings.Compare(a.ModelID, b.ModelID)
	case "account_id":
		return cmp.Compare(a.AccountID, b.AccountID)
	case "colo_id":
		return cmp.Compare(a.ColoID, b.ColoID)
	case "request_source":
		return strings.Compare(a.RequestSource, b.RequestSource)
	case "error_code":
		return cmp.Compare(a.ErrorCode, b.ErrorCode)
	case "backend":
		return strings.Compare(a.Backend, b.Backend)
	}
	return 0
}

// dimValue is the value of dimension d in k: a string or an unsigned number.
func dimValue(d string, k *Key) any {
	switch d {
	case "model_id":
		return k.ModelID
	case "account_id":
		return k.AccountID
	case "colo_id":
		return uint64(k.ColoID)
	case "request_source":
		return k.RequestSource
	case "error_code":
		return uint64(k.ErrorCode)
	case "backend":
		return k.Backend
	}
	return nil
}
