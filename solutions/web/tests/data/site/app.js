console.error("app failed to start");
