package ledger

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
)

type persisted struct {
	ID string `json:"id"`
	*Emitter
}

// MarshalJSON writes the ledger as a list of emitters with UUID-text ids.
func (l *Ledger) MarshalJSON() ([]byte, error) {
	list := make([]persisted, 0, len(l.Emitters))
	for id, e := range l.Emitters {
		list = append(list, persisted{ID: uuid.UUID(id).String(), Emitter: e})
	}
	return json.Marshal(list)
}

// UnmarshalJSON reads what MarshalJSON wrote.
func (l *Ledger) UnmarshalJSON(b []byte) error {
	var list []persisted
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	l.Emitters = make(map[[16]byte]*Emitter, len(list))
	for _, p := range list {
		id, err := uuid.Parse(p.ID)
		if err != nil {
			return fmt.Errorf("emitter id %q: %w", p.ID, err)
		}
		if p.Emitter == nil {
			p.Emitter = &Emitter{}
		}
		l.Emitters[id] = p.Emitter
	}
	return nil
}
