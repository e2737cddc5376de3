gs.getUserName() != gs.getProperty('twittnow.integration_user') &&
    (current.state.changesTo(6) || current.state.changesTo(3) ||
    (current.comments.changes() && current.state != 6 && current.state != 3))
